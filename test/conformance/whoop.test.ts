import { startSimulatedWhoop } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

defineConformanceSuite({
  providerId: 'whoop',
  start: async (now) => fromOAuthSim(await startSimulatedWhoop({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/oauth/oauth2/token`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'body', params: { scope: 'offline' } },
  authorize: { scopeSeparator: ' ', pkce: false },
});
