import type { ProviderDefinition } from '../types.ts';

/** The template for user-defined RFC 6749 providers: config supplies the endpoints. */
export const genericOAuth2: ProviderDefinition = {
  id: 'oauth2',
  displayName: 'Generic OAuth 2.0',
  tokenUrl: '',
  clientAuth: 'basic',
  pkce: true,
  scopeSeparator: ' ',
  defaultScopes: [],
  extraAuthParams: {},
  extraTokenParams: {},
  rotation: 'may-rotate',
  // No refreshTokenLifetime: the server's refresh_token_expires_in, or providers.<id>.refreshTokenLifetimeDays.
  // Many servers name the account as Fitbit does; none promises it.
  accountId: { path: 'user_id', everyRefresh: false },
  grants: ['authorization_code', 'device_code', 'client_credentials'],
  docsUrl: 'https://www.rfc-editor.org/rfc/rfc6749',
  setupNotes:
    'A template: define your own provider in the config with "extends": "oauth2" and its endpoints (deviceAuthorizationUrl enables --device).',
};
