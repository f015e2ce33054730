import {
  rfcErrorReply,
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

/** Dexcom: client id and secret in the body, scope offline_access, 2-hour access tokens, single-use refresh tokens. */
export const dexcomProfile: OAuthSimProfile = {
  provider: 'dexcom',
  paths: { authorize: '/v2/oauth2/login', token: '/v2/oauth2/token', api: '/v3/users/self/devices' },
  clientAuth: 'body',
  publicClients: false,
  pkce: 'ignored',
  scopeSeparator: ' ',
  knownScopes: ['offline_access'],
  offlineScope: 'offline_access',
  seedScope: 'offline_access',
  accessTokenLifetimeSeconds: 7200,
  rotation: 'single-use',
  tokenPrefix: { access: 'dx_a_', refresh: 'dx_r_' },
  renderError: rfcErrorReply,
};

export function startSimulatedDexcom(options: OAuthSimulatorOptions = {}): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(dexcomProfile, options);
}
