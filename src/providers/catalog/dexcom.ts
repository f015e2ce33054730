import type { ProviderDefinition } from '../types.ts';

export const dexcom: ProviderDefinition = {
  id: 'dexcom',
  displayName: 'Dexcom API',
  authorizationUrl: 'https://api.dexcom.com/v2/oauth2/login',
  tokenUrl: 'https://api.dexcom.com/v2/oauth2/token',
  apiBaseUrl: 'https://api.dexcom.com',
  clientAuth: 'body',
  pkce: false,
  scopeSeparator: ' ',
  defaultScopes: ['offline_access'],
  extraAuthParams: {},
  extraTokenParams: {},
  rotation: 'single-use',
  accessTokenLifetimeMs: 2 * 3_600_000,
  // No refreshTokenLifetime: Dexcom documents none (unknown, which is not "never").
  grants: ['authorization_code'],
  docsUrl: 'https://developer.dexcom.com/docs/dexcom/authentication/',
  setupNotes:
    'Scope offline_access. Use dexcom-sandbox (sandbox-api.dexcom.com) with the sandbox users while developing.',
};

/** Dexcom's sandbox: same API with simulated users, on its own host. */
export const dexcomSandbox: ProviderDefinition = {
  ...dexcom,
  id: 'dexcom-sandbox',
  displayName: 'Dexcom API (sandbox)',
  authorizationUrl: 'https://sandbox-api.dexcom.com/v2/oauth2/login',
  tokenUrl: 'https://sandbox-api.dexcom.com/v2/oauth2/token',
  apiBaseUrl: 'https://sandbox-api.dexcom.com',
  setupNotes: 'Dexcom sandbox: log in with one of the sandbox users listed in the Dexcom developer portal.',
};
