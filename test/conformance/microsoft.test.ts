import { startSimulatedMicrosoft } from '../fakes/index.ts';
import { fromOAuthSim } from './harness.ts';
import { defineConformanceSuite } from './scenarios.ts';

const TENANT = 'contoso.onmicrosoft.com';

// The fake serves only /contoso.onmicrosoft.com/…: the config's tenant must land in every URL.
defineConformanceSuite({
  providerId: 'microsoft',
  start: async (now) => fromOAuthSim(await startSimulatedMicrosoft({ now, tenant: TENANT })),
  settings: (sim) => ({
    tenant: TENANT,
    authorizationUrl: `${sim.url}/{tenant}/oauth2/v2.0/authorize`,
    tokenUrl: `${sim.url}/{tenant}/oauth2/v2.0/token`,
    deviceAuthorizationUrl: `${sim.url}/{tenant}/oauth2/v2.0/devicecode`,
  }),
  refreshRequest: { clientAuth: 'body' },
  authorize: { scopeSeparator: ' ', pkce: true },
  clientCredentialsScopes: ['https://graph.microsoft.com/.default'],
  device: true,
});
