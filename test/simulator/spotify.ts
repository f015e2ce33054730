import {
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

/**
 * Spotify: HTTP Basic for apps with a secret, client_id in the body for PKCE apps; 1-hour access tokens; PKCE
 * refresh tokens are single-use, a secret-holding app keeps its refresh token; client credentials for app-only
 * access. invalid_client comes back as HTTP 400.
 */
export const spotifyProfile: OAuthSimProfile = {
  provider: 'spotify',
  paths: { authorize: '/authorize', token: '/api/token', api: '/v1/me' },
  clientAuth: 'basic',
  publicClients: true,
  pkce: 'public-only',
  scopeSeparator: ' ',
  seedScope: 'user-read-private user-read-email',
  accessTokenLifetimeSeconds: 3600,
  rotation: (client) => (client === 'public' ? 'single-use' : 'reusable'),
  tokenPrefix: { access: 'BQ', refresh: 'AQ' },
  clientCredentials: {},
  renderError: (error) => ({
    status: error.error === 'invalid_client' ? 400 : error.status,
    body: { error: error.error, error_description: error.description },
  }),
};

export function startSimulatedSpotify(options: OAuthSimulatorOptions = {}): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(spotifyProfile, options);
}
