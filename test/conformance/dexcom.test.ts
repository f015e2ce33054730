import { startSimulatedDexcom } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

defineConformanceSuite({
  providerId: 'dexcom',
  start: async (now) => fromOAuthSim(await startSimulatedDexcom({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/v2/oauth2/token`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'body' },
  authorize: { scopeSeparator: ' ', pkce: false },
});

// The sandbox entry behaves the same; only its host differs.
defineConformanceSuite({
  providerId: 'dexcom-sandbox',
  start: async (now) => fromOAuthSim(await startSimulatedDexcom({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/v2/oauth2/token`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'body' },
  authorize: { scopeSeparator: ' ', pkce: false },
});
