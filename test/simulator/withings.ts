import type { Reply } from './http.ts';
import type { SimError } from './grant-book.ts';
import {
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

export const WITHINGS_SCOPES = ['user.info', 'user.metrics', 'user.activity', 'user.sleepevents'] as const;

/** Withings answers everything with HTTP 200; the outcome is the integer `status` inside the body. */
function withingsError(error: SimError, grantType: string | null): object {
  switch (error.error) {
    case 'invalid_grant':
      return {
        status: 503,
        error: `Invalid Params: invalid ${grantType === 'authorization_code' ? 'code' : 'refresh_token'}`,
      };
    case 'invalid_client':
      return { status: 503, error: 'Invalid Params: invalid client_id or client_secret' };
    case 'wrong_action':
      return { status: 2554, error: 'Wrong action or wrong webservice' };
    default:
      return { status: 503, error: `Invalid Params: ${error.description}` };
  }
}

function withingsFault(fault: { status: number; headers?: Record<string, string> }): Reply {
  const body =
    fault.status === 429
      ? { status: 601, error: 'Too Many Requests' }
      : fault.status >= 500
        ? { status: 2555, error: 'An unknown error occurred' }
        : { status: 503, error: 'Invalid Params' };
  return { status: 200, body, ...(fault.headers ? { headers: fault.headers } : {}) };
}

/**
 * Withings' documented behaviour: one endpoint for several actions (`action=requesttoken` required), client id
 * and secret in the body, comma-separated scopes, responses wrapped in `{status, body}`, errors inside HTTP 200,
 * 3-hour access tokens, and a rotated refresh token that keeps working until the new access token is used or 8 h pass.
 */
export const withingsProfile: OAuthSimProfile = {
  provider: 'withings',
  paths: { authorize: '/oauth2_user/authorize2', token: '/v2/oauth2', api: '/v2/user' },
  clientAuth: 'body',
  publicClients: false,
  pkce: 'ignored',
  scopeSeparator: ',',
  knownScopes: WITHINGS_SCOPES,
  seedScope: 'user.info,user.metrics',
  minStateLength: 1,
  accessTokenLifetimeSeconds: 10_800,
  rotation: 'old-dies-later',
  tokenPrefix: { access: 'wa_', refresh: 'wr_' },
  checkTokenRequest: (_grantType, params) =>
    params.get('action') === 'requesttoken'
      ? undefined
      : { status: 400, error: 'wrong_action', description: 'action must be requesttoken' },
  successBody: (body, context) => ({ status: 0, body: { userid: context.userId, ...body } }),
  renderError: (error, grantType) => ({ status: 200, body: withingsError(error, grantType) }),
  renderFault: withingsFault,
  renderApi: (userId) => ({
    status: 200,
    body: userId
      ? { status: 0, body: { devices: [] } }
      : {
          status: 401,
          error: 'XRequestID: Not provided invalid_token: The access token provided is invalid',
        },
  }),
};

export function startSimulatedWithings(options: OAuthSimulatorOptions = {}): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(withingsProfile, options);
}
