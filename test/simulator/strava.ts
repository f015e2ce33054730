import type { SimError } from './grant-book.ts';
import type { Reply } from './http.ts';
import {
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

export const STRAVA_SCOPES = [
  'read',
  'read_all',
  'profile:read_all',
  'profile:write',
  'activity:read',
  'activity:read_all',
  'activity:write',
] as const;

/** Strava's error shape: `{"message":"Bad Request","errors":[{"resource":…,"field":…,"code":"invalid"}]}`. */
function stravaError(error: SimError, grantType: string | null): Reply {
  const fault = (message: string, resource: string, field: string, code: string, status = 400): Reply => ({
    status,
    body: { message, errors: [{ resource, field, code }] },
  });
  if (error.error === 'invalid_grant') {
    return grantType === 'authorization_code'
      ? fault('Bad Request', 'AuthorizationCode', 'code', 'invalid')
      : fault('Bad Request', 'RefreshToken', 'refresh_token', 'invalid');
  }
  if (error.error === 'invalid_client')
    return fault('Bad Request', 'Application', 'client_secret', 'invalid');
  return fault('Bad Request', 'Request', error.description, 'invalid');
}

/**
 * Strava: client id and secret in the body, comma-separated scopes, no PKCE, 6-hour access tokens; a refresh
 * returns the same tokens while the access token has more than an hour left, and once a new refresh token is
 * returned the old one stops working. Responses add `expires_at` and (code exchange) the athlete.
 */
export const stravaProfile: OAuthSimProfile = {
  provider: 'strava',
  paths: { authorize: '/oauth/authorize', token: '/oauth/token', api: '/api/v3/athlete' },
  clientAuth: 'body',
  publicClients: false,
  pkce: 'ignored',
  scopeSeparator: ',',
  knownScopes: STRAVA_SCOPES,
  seedScope: 'read,activity:read_all',
  accessTokenLifetimeSeconds: 21_600,
  rotation: 'single-use',
  reuseTokensWithinSeconds: 3600,
  tokenPrefix: { access: 'sa_', refresh: 'sr_' },
  successBody: (body, context) => {
    const out: Record<string, unknown> = { token_type: 'Bearer', ...body };
    if (body.expires_in !== undefined) out.expires_at = Math.floor(context.now / 1000) + body.expires_in;
    if (context.grantType === 'authorization_code')
      out.athlete = { id: Number(context.userId), username: 'demo' };
    return out;
  },
  renderError: stravaError,
  faultBody: (status) =>
    status === 429
      ? {
          message: 'Rate Limit Exceeded',
          errors: [{ resource: 'Application', field: 'rate limit', code: 'exceeded' }],
        }
      : { message: 'Error', errors: [] },
  renderApi: (userId) =>
    userId
      ? { status: 200, body: { id: Number(userId), username: 'demo' } }
      : {
          status: 401,
          body: {
            message: 'Authorization Error',
            errors: [{ resource: 'Athlete', field: 'access_token', code: 'invalid' }],
          },
        },
};

export function startSimulatedStrava(options: OAuthSimulatorOptions = {}): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(stravaProfile, { userId: '12345678', ...options });
}
