import { DAY_MS } from '../../core/duration.ts';
import type { ProviderDefinition } from '../types.ts';

const base = 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0';

export const microsoft: ProviderDefinition = {
  id: 'microsoft',
  displayName: 'Microsoft identity platform (Entra ID v2.0)',
  authorizationUrl: `${base}/authorize`,
  tokenUrl: `${base}/token`,
  deviceAuthorizationUrl: `${base}/devicecode`,
  apiBaseUrl: 'https://graph.microsoft.com',
  clientAuth: 'body',
  pkce: true,
  scopeSeparator: ' ',
  // offline_access is what makes Microsoft issue a refresh token.
  defaultScopes: ['offline_access', 'User.Read'],
  extraAuthParams: {},
  extraTokenParams: {},
  rotation: 'rotate-keep-old',
  accessTokenLifetimeMs: 3_600_000,
  // 90 days, and each refresh returns a refresh token with a fresh 90 days (24 h for SPA redirect URIs, which a
  // server-side keeper does not use).
  refreshTokenLifetime: { ms: 90 * DAY_MS, renewedByUse: true },
  // Two weeks: more than eleven weeks left to notice a stopped scheduler or a failing connection before the
  // 90 days run out, for one request a fortnight.
  keepAliveMs: 14 * DAY_MS,
  grants: ['authorization_code', 'device_code', 'client_credentials'],
  urlParameters: { tenant: 'common' },
  docsUrl: 'https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow',
  setupNotes:
    'Set providers.microsoft.tenant (default "common"; client credentials need your tenant id). Platform "Mobile and desktop" with redirect http://127.0.0.1:<port>/callback, or enable "Allow public client flows" for --device. Refresh tokens replace themselves on each use (90 days, 24 h for SPAs).',
};
