import {
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

/**
 * WHOOP (an Ory Hydra-style server): client id and secret in the body, a refresh token only with the "offline"
 * scope, every refresh must repeat scope=offline, state of at least 8 characters, rotating refresh tokens whose
 * reuse revokes the whole grant.
 */
export const whoopProfile: OAuthSimProfile = {
  provider: 'whoop',
  paths: {
    authorize: '/oauth/oauth2/auth',
    token: '/oauth/oauth2/token',
    api: '/developer/v1/user/profile/basic',
  },
  clientAuth: 'body',
  publicClients: false,
  pkce: 'public-only',
  scopeSeparator: ' ',
  knownScopes: [
    'offline',
    'read:recovery',
    'read:cycles',
    'read:workout',
    'read:sleep',
    'read:profile',
    'read:body_measurement',
  ],
  offlineScope: 'offline',
  seedScope: 'offline read:profile',
  minStateLength: 8,
  accessTokenLifetimeSeconds: 3600,
  rotation: 'reuse-revokes-family',
  tokenPrefix: { access: 'wh_a_', refresh: 'wh_r_' },
  checkTokenRequest: (grantType, params) =>
    grantType === 'refresh_token' && !(params.get('scope') ?? '').split(' ').includes('offline')
      ? { status: 400, error: 'invalid_request', description: 'refresh requests must include scope=offline' }
      : undefined,
  renderError: (error) => ({
    status: error.status,
    body: { error: error.error, error_description: error.description, status_code: error.status },
  }),
};

export function startSimulatedWhoop(options: OAuthSimulatorOptions = {}): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(whoopProfile, options);
}
