import type { ProviderDefinition, ProviderErrorInfo } from '../types.ts';

/**
 * Strava errors look like `{"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token",
 * "code":"invalid"}]}`: a rejected refresh token or code means re-authorisation, a rejected Application means
 * wrong client credentials.
 */
export function parseStravaError(body: unknown): ProviderErrorInfo | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { message, errors } = body as { message?: unknown; errors?: unknown };
  if (typeof message !== 'string' || !Array.isArray(errors)) return undefined;
  const first = (errors[0] ?? {}) as { resource?: unknown; field?: unknown; code?: unknown };
  const resource = typeof first.resource === 'string' ? first.resource : '';
  const detail = [message, resource, first.field, first.code].filter(
    (part) => typeof part === 'string' && part,
  );
  const text = detail.join(' ');
  if ((resource === 'RefreshToken' || resource === 'AuthorizationCode') && first.code === 'invalid') {
    return { code: 'invalid_grant', message: text };
  }
  if (resource === 'Application' && typeof first.field === 'string' && first.field.startsWith('client_')) {
    return { code: 'invalid_client', message: text };
  }
  return { code: typeof first.code === 'string' ? `strava_${first.code}` : undefined, message: text };
}

export const strava: ProviderDefinition = {
  id: 'strava',
  displayName: 'Strava API v3',
  authorizationUrl: 'https://www.strava.com/oauth/authorize',
  tokenUrl: 'https://www.strava.com/oauth/token',
  apiBaseUrl: 'https://www.strava.com/api/v3',
  clientAuth: 'body',
  pkce: false,
  scopeSeparator: ',',
  defaultScopes: ['read', 'activity:read_all'],
  extraAuthParams: { approval_prompt: 'auto' },
  extraTokenParams: {},
  // A refresh returns the same pair until the access token is within 1 h of expiry; a new one ends the old.
  rotation: 'single-use',
  accessTokenLifetimeMs: 6 * 3_600_000,
  // No refreshTokenLifetime: a Strava refresh token dies only when a newer one is issued, not by time.
  // Only the code exchange carries the athlete.
  accountId: { path: 'athlete.id', everyRefresh: false },
  grants: ['authorization_code'],
  docsUrl: 'https://developers.strava.com/docs/authentication/',
  setupNotes:
    'Set "Authorization Callback Domain" to 127.0.0.1 (or your host). Scopes are comma-separated; a refresh returns the same tokens until the access token is within 1 h of expiry.',
  parseError: parseStravaError,
};
