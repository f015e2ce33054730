import type { ProviderDefinition, ProviderErrorInfo } from '../types.ts';

/** Fitbit answers `{"errors":[{"errorType":"invalid_grant","message":"…"}],"success":false}`, not RFC 6749. */
function parseFitbitError(body: unknown): ProviderErrorInfo | undefined {
  if (typeof body !== 'object' || body === null || !('errors' in body) || !Array.isArray(body.errors))
    return undefined;
  const first: unknown = body.errors[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const { errorType, message } = first as { errorType?: unknown; message?: unknown };
  return {
    code: typeof errorType === 'string' ? errorType : undefined,
    message: typeof message === 'string' ? message : undefined,
  };
}

export const fitbit: ProviderDefinition = {
  id: 'fitbit',
  displayName: 'Fitbit Web API',
  authorizationUrl: 'https://www.fitbit.com/oauth2/authorize',
  tokenUrl: 'https://api.fitbit.com/oauth2/token',
  revokeUrl: 'https://api.fitbit.com/oauth2/revoke',
  apiBaseUrl: 'https://api.fitbit.com',
  clientAuth: 'basic',
  pkce: true,
  scopeSeparator: ' ',
  defaultScopes: ['activity', 'heartrate', 'profile', 'sleep', 'weight'],
  extraAuthParams: {},
  extraTokenParams: {},
  rotation: 'single-use',
  // A spent refresh token answers again with the same new pair for about 2 minutes.
  spentTokenGraceMs: 2 * 60_000,
  accessTokenLifetimeMs: 8 * 3_600_000,
  // No refreshTokenLifetime: Fitbit refresh tokens never expire by time (each is single-use).
  // 150 requests per user per hour.
  rateLimit: { requests: 150, windowMs: 3_600_000 },
  accountId: { path: 'user_id', everyRefresh: true },
  grants: ['authorization_code'],
  docsUrl: 'https://dev.fitbit.com/build/reference/web-api/authorization/',
  setupNotes:
    'Retired: the legacy Web API shut down in Nov 2026 (HTTP 410); use google-health. OAuth 2.0 application type "Server" (Basic client auth) or "Client" (omit the secret).',
  retiredHint: 'the Fitbit Web API has been shut down (HTTP 410 Gone); its successor is google-health',
  successor: 'google-health',
  parseError: parseFitbitError,
};
