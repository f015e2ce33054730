import {
  rfcErrorReply,
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

/**
 * A strict RFC 6749 server for user-defined (`extends: oauth2`) providers: PKCE required, Basic or body client
 * auth, RFC 9700 refresh-token rotation with reuse detection (a replayed refresh token revokes the grant),
 * RFC 7009 revocation, RFC 8628 device flow and client credentials.
 */
export const genericOAuth2Profile: OAuthSimProfile = {
  provider: 'oauth2',
  paths: {
    authorize: '/authorize',
    token: '/token',
    api: '/userinfo',
    revoke: '/revoke',
    deviceAuthorization: '/device_authorization',
  },
  clientAuth: 'basic-or-body',
  publicClients: true,
  pkce: 'required',
  scopeSeparator: ' ',
  seedScope: 'read',
  accessTokenLifetimeSeconds: 3600,
  rotation: 'reuse-revokes-family',
  tokenPrefix: { access: 'at_', refresh: 'rt_' },
  clientCredentials: {},
  deviceFlow: { intervalSeconds: 1, expiresInSeconds: 600 },
  renderError: rfcErrorReply,
};

export function startSimulatedOAuth2(options: OAuthSimulatorOptions = {}): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(genericOAuth2Profile, options);
}
