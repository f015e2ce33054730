import { startSimulatedStrava } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

defineConformanceSuite({
  providerId: 'strava',
  start: async (now) => fromOAuthSim(await startSimulatedStrava({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/oauth/token`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'body' },
  authorize: { scopeSeparator: ',', pkce: false, params: { approval_prompt: 'auto' } },
});
