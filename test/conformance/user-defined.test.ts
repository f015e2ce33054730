import { startSimulatedOAuth2 } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

// A provider defined only in config ("extends": "oauth2") against a strict RFC 6749 + RFC 9700 server.
defineConformanceSuite({
  title: 'user-defined provider (extends oauth2)',
  providerId: 'acme',
  start: async (now) => fromOAuthSim(await startSimulatedOAuth2({ now })),
  settings: (sim) => ({
    extends: 'oauth2',
    authorizationUrl: `${sim.url}/authorize`,
    tokenUrl: `${sim.url}/token`,
    revokeUrl: `${sim.url}/revoke`,
    deviceAuthorizationUrl: `${sim.url}/device_authorization`,
    scopes: ['read', 'write'],
    extraAuthParams: { audience: 'https://api.acme.test' },
  }),
  // What this server documents; the oauth2 template it extends cannot know it.
  facts: { rotation: 'reuse-revokes-family', accessTokenLifetimeMs: 3_600_000, accountInRefresh: false },
  refreshRequest: { clientAuth: 'basic' },
  authorize: { scopeSeparator: ' ', pkce: true, params: { audience: 'https://api.acme.test' } },
  clientCredentialsScopes: ['read'],
  device: true,
});
