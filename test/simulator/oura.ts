import {
  rfcErrorReply,
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

/** Oura: client id and secret in the body, space-separated scopes, single-use refresh tokens, RFC 6749 errors. */
export const ouraProfile: OAuthSimProfile = {
  provider: 'oura',
  paths: { authorize: '/oauth/authorize', token: '/oauth/token', api: '/v2/usercollection/personal_info' },
  clientAuth: 'body',
  publicClients: false,
  pkce: 'ignored',
  scopeSeparator: ' ',
  knownScopes: ['email', 'personal', 'daily', 'heartrate', 'workout', 'tag', 'session', 'spo2'],
  seedScope: 'personal daily',
  accessTokenLifetimeSeconds: 86_400,
  rotation: 'single-use',
  tokenPrefix: { access: 'oa_', refresh: 'or_' },
  renderError: rfcErrorReply,
};

export function startSimulatedOura(options: OAuthSimulatorOptions = {}): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(ouraProfile, options);
}
