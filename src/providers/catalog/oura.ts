import type { ProviderDefinition } from '../types.ts';

export const oura: ProviderDefinition = {
  id: 'oura',
  displayName: 'Oura API v2',
  authorizationUrl: 'https://cloud.ouraring.com/oauth/authorize',
  tokenUrl: 'https://api.ouraring.com/oauth/token',
  apiBaseUrl: 'https://api.ouraring.com',
  clientAuth: 'body',
  pkce: false,
  scopeSeparator: ' ',
  defaultScopes: ['personal', 'daily', 'heartrate', 'workout', 'session', 'spo2'],
  extraAuthParams: {},
  extraTokenParams: {},
  rotation: 'single-use',
  accessTokenLifetimeMs: 24 * 3_600_000,
  // No refreshTokenLifetime: Oura documents none (unknown, which is not "never").
  grants: ['authorization_code'],
  docsUrl: 'https://cloud.ouraring.com/docs/authentication',
  setupNotes: 'Refresh tokens are single-use: never let two systems refresh the same connection.',
};
