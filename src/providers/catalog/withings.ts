import { DAY_MS } from '../../core/duration.ts';
import type { EndpointAnswer, ProviderDefinition } from '../types.ts';

/** Withings "Authentication failed" statuses. */
const AUTH_FAILED = new Set([100, 101, 102, 200, 401]);
const TOO_MANY_REQUESTS = 601;
const UNKNOWN_ERROR = 2555;
/** "Invalid params": the message names the parameter (e.g. "Invalid Params: invalid refresh_token"). */
const INVALID_PARAMS = 503;
const WRONG_ACTION = new Set([2554, 2556]);

/**
 * Withings answers HTTP 200 with `{"status":0,"body":{…tokens…}}` on success and `{"status":N,"error":"…"}` on
 * failure. This maps the wrapped status to the HTTP status and RFC 6749 error an ordinary server would send, so the
 * usual classification applies (a rejected refresh token → needs_reauth, 601 → rate limited, 2555 → retry).
 */
export function normalizeWithingsAnswer(answer: EndpointAnswer): EndpointAnswer {
  const { json } = answer;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return answer;
  const wrapped = json as { status?: unknown; body?: unknown; error?: unknown };
  if (typeof wrapped.status !== 'number') return answer;
  if (answer.status < 200 || answer.status >= 300) return answer;
  const code = wrapped.status;
  if (code === 0) return { status: 200, json: wrapped.body };
  const message = typeof wrapped.error === 'string' ? wrapped.error : `Withings status ${code}`;
  const error = (status: number, name: string): EndpointAnswer => ({
    status,
    json: { error: name, error_description: `${message} (Withings status ${code})` },
  });
  if (code === TOO_MANY_REQUESTS) return error(429, 'rate_limited');
  if (AUTH_FAILED.has(code)) return error(401, 'invalid_client');
  if (WRONG_ACTION.has(code)) return error(400, 'invalid_request');
  if (code === INVALID_PARAMS) {
    if (/invalid (refresh_token|code)\b/i.test(message)) return error(400, 'invalid_grant');
    if (/client|signature/i.test(message)) return error(401, 'invalid_client');
    return error(400, 'invalid_request');
  }
  // 2555 "An unknown error occurred" and codes not documented: the outcome is unknown, so retry the same token.
  return error(code === UNKNOWN_ERROR ? 500 : 502, 'server_error');
}

export const withings: ProviderDefinition = {
  id: 'withings',
  displayName: 'Withings Public Health Data API',
  authorizationUrl: 'https://account.withings.com/oauth2_user/authorize2',
  tokenUrl: 'https://wbsapi.withings.net/v2/oauth2',
  apiBaseUrl: 'https://wbsapi.withings.net',
  clientAuth: 'body',
  pkce: false,
  scopeSeparator: ',',
  defaultScopes: ['user.info', 'user.metrics', 'user.activity'],
  extraAuthParams: {},
  // Withings' one OAuth endpoint serves several actions; token requests must name theirs.
  extraTokenParams: { action: 'requesttoken' },
  rotation: 'single-use',
  // The old refresh token dies 8 h after a refresh, or as soon as the new access token is used.
  spentTokenGraceMs: 8 * 3_600_000,
  accessTokenLifetimeMs: 3 * 3_600_000,
  // A refresh token lives a year; every refresh replaces it with a new one (a new year).
  refreshTokenLifetime: { ms: 365 * DAY_MS, renewedByUse: false },
  // Renewed by rotation only, so refresh at least monthly: eleven months to notice a stopped scheduler.
  keepAliveMs: 30 * DAY_MS,
  accountId: { path: 'userid', everyRefresh: true },
  grants: ['authorization_code'],
  docsUrl: 'https://developer.withings.com/api-reference#tag/oauth2',
  setupNotes:
    'Register the redirect URI exactly (Withings compares it literally); authorization codes live 30 s. The old refresh token dies 8 h after a refresh or once the new access token is used.',
  normalizeResponse: normalizeWithingsAnswer,
};
