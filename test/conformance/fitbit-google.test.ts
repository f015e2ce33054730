import { startSimulatedFitbit, startSimulatedGoogle } from '../fakes/index.ts';
import { fromSeedSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

// The seed's two providers run the same table against their existing simulators.
defineConformanceSuite({
  providerId: 'fitbit',
  start: async (now) => fromSeedSim(await startSimulatedFitbit({ now })),
  settings: (sim) => ({
    tokenUrl: `${sim.url}/oauth2/token`,
    authorizationUrl: sim.authorizeUrl,
    revokeUrl: `${sim.url}/oauth2/revoke`,
  }),
  refreshRequest: { clientAuth: 'basic' },
  authorize: { scopeSeparator: ' ', pkce: true },
});

defineConformanceSuite({
  providerId: 'google-health',
  start: async (now) => fromSeedSim(await startSimulatedGoogle({ now })),
  settings: (sim) => ({
    tokenUrl: `${sim.url}/token`,
    authorizationUrl: sim.authorizeUrl,
    revokeUrl: `${sim.url}/revoke`,
  }),
  refreshRequest: { clientAuth: 'body' },
  authorize: { scopeSeparator: ' ', pkce: true, params: { access_type: 'offline', prompt: 'consent' } },
});
