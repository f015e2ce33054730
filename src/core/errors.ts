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

/** CLI exit codes, documented in the README. */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  needsReauth: 3,
  providerUnavailable: 4,
  store: 5,
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

export class TokenkeeperError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenkeeperError';
    this.code = code;
    this.exitCode = exitCodeByErrorCode[code];
  }
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
