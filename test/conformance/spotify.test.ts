import { startSimulatedSpotify } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

// An app with a client secret: HTTP Basic, the refresh token stays the same.
defineConformanceSuite({
  providerId: 'spotify',
  start: async (now) => fromOAuthSim(await startSimulatedSpotify({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/api/token`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'basic' },
  authorize: { scopeSeparator: ' ', pkce: true },
  clientCredentialsScopes: [],
});

// A PKCE app without a secret: client_id in the body, single-use refresh tokens.
defineConformanceSuite({
  title: 'spotify (PKCE app, no secret)',
  providerId: 'spotify',
  publicClient: true,
  start: async (now) => fromOAuthSim(await startSimulatedSpotify({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/api/token`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'none' },
  authorize: { scopeSeparator: ' ', pkce: true },
});
