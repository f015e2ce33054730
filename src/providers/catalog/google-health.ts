import type { ProviderDefinition } from '../types.ts';

export const googleHealth: ProviderDefinition = {
  id: 'google-health',
  displayName: 'Google Health API (Google OAuth 2.0)',
  authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  tokenUrl: 'https://oauth2.googleapis.com/token',
  revokeUrl: 'https://oauth2.googleapis.com/revoke',
  apiBaseUrl: 'https://health.googleapis.com',
  clientAuth: 'body',
  pkce: true,
  scopeSeparator: ' ',
  defaultScopes: ['https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly'],
  // Without access_type=offline Google issues no refresh token; prompt=consent makes sure one is issued again.
  extraAuthParams: { access_type: 'offline', prompt: 'consent' },
  extraTokenParams: {},
  rotation: 'reusable',
  accessTokenLifetimeMs: 3_600_000,
  // 300 requests per user per minute.
  rateLimit: { requests: 300, windowMs: 60_000 },
  grants: ['authorization_code'],
  docsUrl: 'https://developers.google.com/identity/protocols/oauth2/web-server',
  setupNotes:
    'OAuth client type "Web application". Apps left in "Testing" status get refresh tokens that die after 7 days: publish the app.',
};
