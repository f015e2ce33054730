import { startSimulatedWithings } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

defineConformanceSuite({
  providerId: 'withings',
  start: async (now) => fromOAuthSim(await startSimulatedWithings({ now })),
  settings: (sim) => ({ tokenUrl: `${sim.url}/v2/oauth2`, authorizationUrl: sim.authorizeUrl }),
  refreshRequest: { clientAuth: 'body', params: { action: 'requesttoken', grant_type: 'refresh_token' } },
  authorize: { scopeSeparator: ',', pkce: false },
});
