import { DAY_MS } from '../../core/duration.ts';
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
  // Refresh tokens die when unused for six months (counted as 180 days, the early side); every refresh is a use.
  refreshTokenLifetime: { ms: 180 * DAY_MS, renewedByUse: true },
  // Apps in "Testing" publishing status: 7 days from consent, whatever the use (providers.<id>.publishingStatus).
  testingRefreshTokenLifetime: { ms: 7 * DAY_MS, renewedByUse: false, fromConsent: true },
  // A use a month keeps the six-month clock young: a stopped scheduler or a failing connection still has five
  // months to be noticed, for one request a month.
  keepAliveMs: 30 * DAY_MS,
  // 300 requests per user per minute.
  rateLimit: { requests: 300, windowMs: 60_000 },
  grants: ['authorization_code'],
  docsUrl: 'https://developers.google.com/identity/protocols/oauth2/web-server',
  setupNotes:
    'OAuth client type "Web application". Apps left in "Testing" status get refresh tokens that die after 7 days: publish the app, or set providers.google-health.publishingStatus to "testing" so tokenkeeper counts the 7 days and warns in time.',
};
