import type { ProviderDefinition, ProviderErrorInfo } from './types.ts';

/** Fitbit answers `{"errors":[{"errorType":"invalid_grant","message":"…"}],"success":false}`, not RFC 6749. */
function parseFitbitError(body: unknown): ProviderErrorInfo | undefined {
  if (typeof body !== 'object' || body === null || !('errors' in body) || !Array.isArray(body.errors))
    return undefined;
  const first: unknown = body.errors[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const { errorType, message } = first as { errorType?: unknown; message?: unknown };
  return {
    code: typeof errorType === 'string' ? errorType : undefined,
    message: typeof message === 'string' ? message : undefined,
  };
}

const fitbitScopes = ['activity', 'heartrate', 'profile', 'sleep', 'weight'];

export const fitbit: ProviderDefinition = {
  id: 'fitbit',
  displayName: 'Fitbit Web API',
  authorizationUrl: 'https://www.fitbit.com/oauth2/authorize',
  tokenUrl: 'https://api.fitbit.com/oauth2/token',
  revokeUrl: 'https://api.fitbit.com/oauth2/revoke',
  apiBaseUrl: 'https://api.fitbit.com',
  clientAuth: 'basic',
  pkce: true,
  scopeSeparator: ' ',
  defaultScopes: fitbitScopes,
  extraAuthParams: {},
  extraTokenParams: {},
  rotation: 'single-use',
  docsUrl: 'https://dev.fitbit.com/build/reference/web-api/authorization/',
  retiredHint:
    'the Fitbit Web API has been shut down (HTTP 410 Gone): reconnect this account with `tokenkeeper connect google-health`',
  parseError: parseFitbitError,
};

export const googleHealth: ProviderDefinition = {
  id: 'google-health',
  displayName: 'Google Health API (Google OAuth 2.0)',
  authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  tokenUrl: 'https://oauth2.googleapis.com/token',
  revokeUrl: 'https://oauth2.googleapis.com/revoke',
  clientAuth: 'body',
  pkce: true,
  scopeSeparator: ' ',
  defaultScopes: ['https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly'],
  // Without access_type=offline Google issues no refresh token; prompt=consent makes sure one is issued again.
  extraAuthParams: { access_type: 'offline', prompt: 'consent' },
  extraTokenParams: {},
  rotation: 'reusable',
  docsUrl: 'https://developers.google.com/identity/protocols/oauth2/web-server',
};

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
};

/** The built-in simulated provider of `tokenkeeper demo`: behaves like Fitbit; its URLs are set when it starts. */
export const demo: ProviderDefinition = {
  ...fitbit,
  id: 'demo',
  displayName: 'Demo (simulated Fitbit on loopback)',
  authorizationUrl: undefined,
  tokenUrl: '',
  revokeUrl: undefined,
  apiBaseUrl: undefined,
  docsUrl: undefined,
  retiredHint: 'the demo provider answered 410 Gone (simulated retirement)',
};

export const builtInProviders: readonly ProviderDefinition[] = [fitbit, googleHealth, genericOAuth2, demo];
