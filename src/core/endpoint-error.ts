import { TokenkeeperError, type ErrorCode, type ErrorHint } from './errors.ts';

/** How a request to a provider's token endpoint failed: the vocabulary failure decisions are made in. */
export type TokenFailureKind =
  | 'invalid_grant'
  | 'invalid_client'
  | 'retired'
  | 'rate_limited'
  | 'server'
  | 'network'
  | 'unreachable'
  | 'timeout'
  | 'bad_response'
  | 'rejected';

const codeByKind: Record<TokenFailureKind, ErrorCode> = {
  invalid_grant: 'needs_reauth',
  invalid_client: 'invalid_client',
  retired: 'provider_retired',
  rate_limited: 'provider_unavailable',
  server: 'provider_unavailable',
  network: 'provider_unavailable',
  unreachable: 'provider_unavailable',
  timeout: 'timeout',
  bad_response: 'bad_provider_response',
  rejected: 'provider_rejected',
};

/** Failures after which the provider may have spent the refresh token even though we got no usable answer. */
const outcomeUnknown: ReadonlySet<TokenFailureKind> = new Set([
  'server',
  'network',
  'timeout',
  'bad_response',
]);

export interface TokenEndpointErrorDetails {
  status?: number;
  retryAfterMs?: number;
  providerCode?: string;
  cause?: unknown;
  hint?: ErrorHint;
}

/** A classified token-endpoint failure (raised by the token client, decided on by `decideFailure`). */
export class TokenEndpointError extends TokenkeeperError {
  readonly kind: TokenFailureKind;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly providerCode?: string;

  constructor(kind: TokenFailureKind, message: string, details: TokenEndpointErrorDetails = {}) {
    super(codeByKind[kind], message, { cause: details.cause, hint: details.hint });
    this.name = 'TokenEndpointError';
    this.kind = kind;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.providerCode = details.providerCode;
  }

  /** True when the provider may have rotated the refresh token: retry the same one soon, inside its grace window. */
  get outcomeUnknown(): boolean {
    return outcomeUnknown.has(this.kind);
  }

  /** Worth retrying within the same call (after a backoff); other failures wait for the scheduler or a human. */
  get retryable(): boolean {
    return this.outcomeUnknown || this.kind === 'rate_limited' || this.kind === 'unreachable';
  }

  /** The same failure carrying `hint` (e.g. when it is retried); the original is the cause. */
  withHint(hint: ErrorHint): TokenEndpointError {
    return new TokenEndpointError(this.kind, this.problem, {
      status: this.status,
      retryAfterMs: this.retryAfterMs,
      providerCode: this.providerCode,
      cause: this,
      hint,
    });
  }
}
