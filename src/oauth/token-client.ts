import { TokenEndpointError, type TokenFailureKind } from '../core/endpoint-error.ts';
import { parseRetryAfter } from '../core/backoff.ts';
import type { ProviderDefinition, ProviderErrorInfo } from '../providers/types.ts';
import { checkEndpointUrl } from '../core/url-policy.ts';
import { applyClientAuth } from './client-auth.ts';
import { redactSecrets } from '../core/redact.ts';

export { TokenEndpointError, type TokenFailureKind };

/** Request parameters that carry secrets (and are scrubbed from provider error texts); others are plain words. */
const secretParams = [
  'refresh_token',
  'code',
  'code_verifier',
  'client_secret',
  'device_code',
  'assertion',
  'password',
];

export interface TokenResponse {
  accessToken: string;
  refreshToken?: string;
  expiresIn?: number;
  /**
   * Seconds the refresh token lives, when the provider says (`refresh_token_expires_in` of
   * draft-ietf-oauth-refresh-token-expiration, or Keycloak's `refresh_expires_in`).
   */
  refreshTokenExpiresIn?: number;
  scope?: string;
  tokenType?: string;
  providerUserId?: string;
  /** Provider rate-limit headers, if any (e.g. fitbit-rate-limit-remaining). */
  rateLimit?: Record<string, string>;
}

export interface TokenRequestOptions {
  provider: ProviderDefinition;
  clientId: string;
  clientSecret?: string;
  /** Grant parameters, e.g. {grant_type: 'refresh_token', refresh_token}. */
  params: Record<string, string>;
  timeoutMs: number;
  maxBodyBytes: number;
  signal?: AbortSignal;
  userAgent?: string;
}

/**
 * One POST to a token endpoint with a timeout, a bounded response body, client authentication in the provider's
 * style and every failure classified. Error messages are scrubbed of every secret the request carried, because
 * some providers (Fitbit) echo the refresh token back in their error text.
 */
export async function requestToken(options: TokenRequestOptions): Promise<TokenResponse> {
  const { provider, params } = options;
  const refreshParams = params.grant_type === 'refresh_token' ? provider.extraRefreshParams : undefined;
  const answer = await postForm({
    ...options,
    url: provider.tokenUrl,
    what: 'token endpoint',
    params: { ...provider.extraTokenParams, ...refreshParams, ...params },
  });
  return interpretResponse(provider, answer);
}

export interface FormPostOptions extends Omit<TokenRequestOptions, 'params'> {
  url: string;
  /** Names the endpoint in messages, e.g. "token endpoint". */
  what: string;
  /** The complete form body (before client authentication is added). */
  params: Record<string, string>;
}

/** A provider's answer to a form POST, normalized by the provider's hook, with a scrubber for its secrets. */
export interface FormAnswer {
  status: number;
  json: unknown;
  headers: Headers;
  where: string;
  scrub: (text: string) => string;
}

/**
 * POSTs a form to one of the provider's OAuth endpoints (token, device authorization): client authentication in
 * the provider's style, timeout, bounded body, no redirects, network failures classified. The answer goes through
 * the provider's `normalizeResponse` hook, so callers see RFC 6749-shaped statuses and bodies.
 */
export async function postForm(options: FormPostOptions): Promise<FormAnswer> {
  const { provider, clientId, clientSecret, params } = options;
  const url = checkEndpointUrl(options.url, `${options.what} URL of provider "${provider.id}"`);
  const secrets = [clientSecret, ...secretParams.map((key) => params[key])].filter(
    (value): value is string => !!value,
  );
  const scrub = (text: string) => redactSecrets(text, secrets);

  const body = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    'user-agent': options.userAgent ?? 'tokenkeeper',
  };
  applyClientAuth(provider, clientId, clientSecret, headers, body);
  // The Basic credentials (base64 of id:secret) are a secret too, should a provider echo the header.
  if (headers.authorization) secrets.push(headers.authorization.replace(/^Basic /, ''));

  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'manual' });
    text = await readBounded(response, options.maxBodyBytes);
  } catch (error) {
    if (error instanceof TokenEndpointError) throw error;
    if (timeout.aborted) {
      throw new TokenEndpointError(
        'timeout',
        `${provider.id} ${options.what} did not answer within ${options.timeoutMs} ms`,
        {
          cause: error,
        },
      );
    }
    if (options.signal?.aborted) throw options.signal.reason;
    const reason = scrub(describeFetchError(error));
    throw new TokenEndpointError(
      neverSent(error) ? 'unreachable' : 'network',
      `cannot reach ${provider.id} ${options.what} ${url.origin}: ${reason}`,
      {
        cause: error,
      },
    );
  }
  const raw = { status: response.status, json: parseJson(text) };
  const normalized = provider.normalizeResponse ? provider.normalizeResponse(raw) : raw;
  return {
    status: normalized.status,
    json: normalized.json,
    headers: response.headers,
    where: `${provider.id} ${options.what}`,
    scrub,
  };
}

function interpretResponse(provider: ProviderDefinition, answer: FormAnswer): TokenResponse {
  const { status, json, where } = answer;
  if (status >= 200 && status < 300) {
    if (json === undefined || typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new TokenEndpointError(
        'bad_response',
        `${where} answered HTTP ${status} with a body that is not a JSON object`,
        {
          status,
        },
      );
    }
    return parseTokenBody(json as Record<string, unknown>, where, rateLimitHeaders(answer.headers), provider);
  }
  throw endpointFailure(provider, answer);
}

/** Classifies an error answer (status outside 2xx) into the TokenEndpointError the engine acts on. */
export function endpointFailure(provider: ProviderDefinition, answer: FormAnswer): TokenEndpointError {
  const { status, json, where, scrub } = answer;
  const info = readProviderError(provider, json);
  const detail = info?.code
    ? `${info.code}${info.message ? `: ${truncate(scrub(info.message))}` : ''}`
    : `HTTP ${status}`;
  const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'), Date.now());
  const details = { status, retryAfterMs, providerCode: info?.code };
  if (status === 410) {
    return new TokenEndpointError(
      'retired',
      provider.retiredHint ?? `${where} answered 410 Gone: the provider retired this API`,
      details,
    );
  }
  if (status === 429)
    return new TokenEndpointError('rate_limited', `${where} is rate limiting (${detail})`, details);
  if (status >= 500)
    return new TokenEndpointError('server', `${where} failed with HTTP ${status} (${detail})`, details);
  if (status >= 300 && status < 400) {
    return new TokenEndpointError(
      'bad_response',
      `${where} answered with a redirect (HTTP ${status}); check the token URL`,
      details,
    );
  }
  const code = info?.code;
  if (code === 'invalid_grant' || code === 'expired_token') {
    return new TokenEndpointError(
      'invalid_grant',
      `${where} rejected the refresh token (${detail})`,
      details,
    );
  }
  if (code === 'invalid_client' || code === 'unauthorized_client' || (status === 401 && code === undefined)) {
    return new TokenEndpointError(
      'invalid_client',
      `${where} rejected the client credentials (${detail}): check the client id and secret`,
      details,
    );
  }
  return new TokenEndpointError('rejected', `${where} rejected the request (${detail})`, details);
}

function parseTokenBody(
  body: Record<string, unknown>,
  where: string,
  rateLimit: Record<string, string> | undefined,
  provider: ProviderDefinition,
): TokenResponse {
  const accessToken = body.access_token;
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    throw new TokenEndpointError('bad_response', `${where} answered without an access_token`);
  }
  const refreshToken = body.refresh_token;
  if (
    refreshToken !== undefined &&
    refreshToken !== null &&
    (typeof refreshToken !== 'string' || !refreshToken)
  ) {
    throw new TokenEndpointError(
      'bad_response',
      `${where} answered with a refresh_token that is not a string`,
    );
  }
  const scope = Array.isArray(body.scope) ? body.scope.join(' ') : body.scope;
  const userId = provider.accountId && valueAt(body, provider.accountId.path);
  return {
    accessToken,
    refreshToken: typeof refreshToken === 'string' ? refreshToken : undefined,
    expiresIn: positiveSeconds(body.expires_in),
    // Keycloak's refresh_expires_in 0 marks an offline token that does not expire: "not said", like garbage.
    refreshTokenExpiresIn:
      positiveSeconds(body.refresh_token_expires_in) ?? positiveSeconds(body.refresh_expires_in),
    scope: typeof scope === 'string' ? scope : undefined,
    tokenType: typeof body.token_type === 'string' ? body.token_type : undefined,
    providerUserId: typeof userId === 'string' || typeof userId === 'number' ? String(userId) : undefined,
    rateLimit,
  };
}

/** A lifetime in seconds as providers send it (a number or a numeric string); anything else, 0 or less: none. */
function positiveSeconds(value: unknown): number | undefined {
  const seconds = typeof value === 'string' ? Number(value) : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

/** The value at a dot path (`athlete.id`) in a JSON body, or undefined. */
function valueAt(body: unknown, path: string): unknown {
  let value = body;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function readProviderError(provider: ProviderDefinition, json: unknown): ProviderErrorInfo | undefined {
  const custom = provider.parseError?.(json);
  if (custom) return custom;
  if (typeof json !== 'object' || json === null) return undefined;
  const { error, error_description: description } = json as { error?: unknown; error_description?: unknown };
  if (typeof error !== 'string') return undefined;
  return { code: error, message: typeof description === 'string' ? description : undefined };
}

function rateLimitHeaders(headers: Headers): Record<string, string> | undefined {
  const found: Record<string, string> = {};
  headers.forEach((value, key) => {
    if (key.includes('rate-limit') || key.includes('ratelimit')) found[key] = value;
  });
  return Object.keys(found).length > 0 ? found : undefined;
}

async function readBounded(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new TokenEndpointError(
      'bad_response',
      `token endpoint response is ${declared} bytes, over the ${maxBytes}-byte limit`,
      {
        status: response.status,
      },
    );
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new TokenEndpointError(
        'bad_response',
        `token endpoint response exceeded the ${maxBytes}-byte limit`,
        {
          status: response.status,
        },
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** OpenSSL's certificate verification failures: they end the TLS handshake, before any request byte is written. */
const certificateErrors: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface SystemErrorLike {
  code?: unknown;
  syscall?: unknown;
  errors?: unknown;
}

/**
 * True only when the request provably never left this machine, so the provider cannot have spent the refresh
 * token: the name did not resolve (getaddrinfo), the TCP connection was never established (a failed `connect`,
 * e.g. ECONNREFUSED, or undici's connect timeout), or the TLS handshake failed on the certificate. Anything else
 * (a reset, a timeout, a socket error on a reused connection) may have reached the provider.
 */
export function neverSent(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (typeof cause !== 'object' || cause === null) return false;
  return neverSentCause(cause as SystemErrorLike);
}

function neverSentCause(cause: SystemErrorLike): boolean {
  // Happy eyeballs (several addresses tried) fails with an AggregateError of every connect attempt.
  if (Array.isArray(cause.errors) && cause.errors.length > 0) {
    return cause.errors.every(
      (inner: unknown) =>
        typeof inner === 'object' && inner !== null && neverSentCause(inner as SystemErrorLike),
    );
  }
  if (cause.syscall === 'getaddrinfo' || cause.syscall === 'connect') return true;
  return (
    typeof cause.code === 'string' &&
    (cause.code === 'UND_ERR_CONNECT_TIMEOUT' || certificateErrors.has(cause.code))
  );
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}
