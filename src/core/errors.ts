/**
 * Every error tokenkeeper raises on purpose carries a stable `code`, a one-line message that says what is wrong
 * and how to fix it, and the CLI exit code it maps to. Messages never contain secrets.
 */
export type ErrorCode =
  | 'config'
  | 'usage'
  | 'not_found'
  | 'already_exists'
  | 'account_mismatch'
  | 'needs_reauth'
  | 'provider_retired'
  | 'invalid_client'
  | 'provider_unavailable'
  | 'bad_provider_response'
  | 'provider_rejected'
  | 'store'
  | 'wrong_key'
  | 'lock_timeout'
  | 'version_conflict'
  | 'timeout';

/** CLI exit codes, documented in the README and in `tokenkeeper --help`. */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  needsReauth: 3,
  providerUnavailable: 4,
  store: 5,
  /**
   * Nothing needs a human now, but a refresh token dies within its warning window (`status`): a human should
   * reconnect soon. No error maps to it, and any connection that needs a human now (3) wins over it.
   */
  expiringSoon: 6,
} as const;

const exitCodeByErrorCode: Record<ErrorCode, number> = {
  config: exitCodes.usage,
  usage: exitCodes.usage,
  not_found: exitCodes.usage,
  already_exists: exitCodes.usage,
  account_mismatch: exitCodes.usage,
  needs_reauth: exitCodes.needsReauth,
  provider_retired: exitCodes.needsReauth,
  invalid_client: exitCodes.usage,
  provider_unavailable: exitCodes.providerUnavailable,
  bad_provider_response: exitCodes.providerUnavailable,
  provider_rejected: exitCodes.failure,
  timeout: exitCodes.providerUnavailable,
  store: exitCodes.store,
  wrong_key: exitCodes.store,
  lock_timeout: exitCodes.store,
  version_conflict: exitCodes.store,
};

/**
 * What would resolve an error, as data: each face (CLI, HTTP API, library) puts it in its own words, so the engine
 * never names a command. The `message` carries a neutral wording (`describeHint`).
 */
export type ErrorHint =
  /** A human must consent again: connect the account anew at `provider` (a retired provider's successor, say). */
  | {
      action: 'reconnect';
      connection: string;
      provider: string;
      /** Set when `provider` succeeds this retired one: the connection moves there, keeping its name (replace). */
      retiredProvider?: string;
    }
  /**
   * Nothing to fix: it is tried again in `retryInMs` by a scheduler, or by the next refresh. With `sameRefreshToken`
   * the provider may have rotated the token, so that retry must come inside the provider's grace window.
   */
  | { action: 'retry'; connection: string; retryInMs: number; sameRefreshToken: boolean }
  /** New tokens were lost to a store outage: refresh the connection at once when the store works again. */
  | { action: 'refresh_after_store_fix'; connection: string }
  /** The connection name is unknown: list the connections. */
  | { action: 'list_connections' };

export interface TokenkeeperErrorOptions {
  cause?: unknown;
  hint?: ErrorHint;
}

export class TokenkeeperError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly hint?: ErrorHint;
  /** The message without the hint's words, for faces that word the hint themselves. */
  readonly problem: string;

  constructor(code: ErrorCode, problem: string, options: TokenkeeperErrorOptions = {}) {
    const neutral = options.hint && describeHint(options.hint);
    super(neutral ? `${problem}; ${neutral}` : problem, { cause: options.cause });
    this.name = 'TokenkeeperError';
    this.code = code;
    this.exitCode = exitCodeByErrorCode[code];
    this.hint = options.hint;
    this.problem = problem;
  }
}

/** The library's wording of a hint (no commands: a library user may have neither the CLI nor a daemon). */
export function describeHint(hint: ErrorHint): string | undefined {
  switch (hint.action) {
    case 'reconnect':
      return hint.retiredProvider
        ? `replace it with a connection at ${hint.provider}, which succeeds ${hint.retiredProvider}`
        : `connect it again at ${hint.provider}`;
    case 'retry':
      return hint.sameRefreshToken
        ? `the provider may have rotated the refresh token, so the attempt is kept and retried with the same refresh token in ${seconds(hint.retryInMs)} s, within the provider's grace window`
        : `nothing was spent; it will be retried in ${seconds(hint.retryInMs)} s`;
    case 'refresh_after_store_fix':
      return `fix the store, then refresh "${hint.connection}" at once (the provider may accept the old token again for a short while)`;
    case 'list_connections':
      return undefined;
  }
}

/** Whole seconds, rounded up: how hints and messages count waits. */
export function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

export class VersionConflictError extends TokenkeeperError {
  constructor(name: string, expected: number) {
    super(
      'version_conflict',
      `connection "${name}" changed while being written (expected version ${expected})`,
    );
    this.name = 'VersionConflictError';
  }
}

export function isTokenkeeperError(error: unknown, code?: ErrorCode): error is TokenkeeperError {
  return error instanceof TokenkeeperError && (code === undefined || error.code === code);
}

/** A one-line description of any thrown value, for logs and CLI output. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}
