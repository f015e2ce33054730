import { startSimulatedOura } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

defineConformanceSuite({
  providerId: 'oura',
  start: async (now) => fromOAuthSim(await startSimulatedOura({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/oauth/token`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'body' },
  authorize: { scopeSeparator: ' ', pkce: false },
});
