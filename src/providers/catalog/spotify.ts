import { DAY_MS } from '../../core/duration.ts';
import type { ProviderDefinition } from '../types.ts';

export const spotify: ProviderDefinition = {
  id: 'spotify',
  displayName: 'Spotify Web API',
  authorizationUrl: 'https://accounts.spotify.com/authorize',
  tokenUrl: 'https://accounts.spotify.com/api/token',
  apiBaseUrl: 'https://api.spotify.com/v1',
  // Basic with a secret (authorization code flow); without a secret, client_id goes in the body (PKCE flow).
  clientAuth: 'basic',
  pkce: true,
  scopeSeparator: ' ',
  defaultScopes: ['user-read-private', 'user-read-email'],
  extraAuthParams: {},
  extraTokenParams: {},
  // With a client secret the refresh token stays; PKCE apps without one get single-use refresh tokens.
  rotation: 'reusable',
  publicClientRotation: 'single-use',
  accessTokenLifetimeMs: 3_600_000,
  // Six months (180 days, the early side) from the user's authorization; neither refreshes nor rotated PKCE
  // refresh tokens extend it, only a new consent does. No keep-alive: use renews nothing.
  refreshTokenLifetime: { ms: 180 * DAY_MS, renewedByUse: false, fromConsent: true },
  grants: ['authorization_code', 'client_credentials'],
  docsUrl: 'https://developer.spotify.com/documentation/web-api/tutorials/refreshing-tokens',
  setupNotes:
    'Add the redirect URI in the app settings (loopback must be 127.0.0.1, not localhost). Omit the client secret to use the PKCE flow, whose refresh tokens are single-use.',
};
