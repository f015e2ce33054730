import type { ProviderDefinition } from '../types.ts';

export const whoop: ProviderDefinition = {
  id: 'whoop',
  displayName: 'WHOOP Developer API',
  authorizationUrl: 'https://api.prod.whoop.com/oauth/oauth2/auth',
  tokenUrl: 'https://api.prod.whoop.com/oauth/oauth2/token',
  apiBaseUrl: 'https://api.prod.whoop.com/developer',
  clientAuth: 'body',
  pkce: false,
  scopeSeparator: ' ',
  // Without "offline" WHOOP issues no refresh token.
  defaultScopes: ['offline', 'read:profile', 'read:recovery', 'read:sleep', 'read:workout', 'read:cycles'],
  extraAuthParams: {},
  extraTokenParams: {},
  extraRefreshParams: { scope: 'offline' },
  rotation: 'reuse-revokes-family',
  accessTokenLifetimeMs: 3_600_000,
  // No refreshTokenLifetime: WHOOP documents none (unknown, which is not "never").
  grants: ['authorization_code'],
  docsUrl: 'https://developer.whoop.com/docs/developing/oauth',
  setupNotes:
    'Include the "offline" scope (it is in the defaults); every refresh sends scope=offline. Refresh tokens rotate: never let two systems refresh the same connection.',
};
