import { connectAgainCommand } from '../core/links.ts';
import type { ErrorCode, TokenkeeperError } from '../core/errors.ts';

/** An error the API answers with a given HTTP status and a stable code. */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
  }
}

/** The JSON every API error is sent as. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** How engine errors map to HTTP: the caller's fault (4xx), the connection's state, or upstream/infra (5xx). */
export const httpStatusByErrorCode: Record<ErrorCode, number> = {
  usage: 400,
  config: 500,
  not_found: 404,
  already_exists: 409,
  account_mismatch: 409,
  needs_reauth: 409,
  provider_retired: 410,
  invalid_client: 502,
  provider_unavailable: 503,
  bad_provider_response: 502,
  provider_rejected: 502,
  timeout: 504,
  store: 503,
  wrong_key: 500,
  lock_timeout: 503,
  version_conflict: 503,
};

/**
 * An engine error's message as the API sends it: a hint to reconnect points at the status page's Reconnect (for
 * an operator) and at the CLI; other hints keep the library's wording.
 */
export function apiErrorMessage(error: TokenkeeperError): string {
  const { hint } = error;
  if (hint?.action !== 'reconnect') return error.message;
  const command = connectAgainCommand(hint);
  return `${error.problem}; reconnect it: Reconnect on the status page (operator login), or \`${command}\``;
}
