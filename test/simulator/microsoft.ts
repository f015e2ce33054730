import { randomUUID } from 'node:crypto';
import type { SimError } from './grant-book.ts';
import type { Reply } from './http.ts';
import {
  startOAuthSimulator,
  type OAuthSimProfile,
  type OAuthSimulatorOptions,
  type SimulatedOAuthProvider,
} from './oauth-server.ts';

const AADSTS: Record<string, [number, string]> = {
  invalid_grant: [
    70008,
    'The provided authorization code or refresh token has expired due to inactivity or was revoked.',
  ],
  invalid_client: [7000215, 'Invalid client secret provided.'],
  invalid_request: [900144, 'The request body must contain the required parameter.'],
  invalid_scope: [
    1002012,
    'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.',
  ],
  authorization_pending: [70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.'],
  slow_down: [70016, 'Polling too often: slow down.'],
  expired_token: [70019, 'Verification code expired.'],
  authorization_declined: [70000, 'The user declined the sign-in.'],
  unsupported_grant_type: [70003, 'The app requested an unsupported grant type.'],
  unauthorized_client: [700016, 'The application is not allowed to use this grant.'],
};

/** Microsoft identity platform errors: RFC 6749 fields plus error_codes, trace and correlation ids. */
export function microsoftError(status: number, name: string, detail?: string): Reply {
  const [code, text] = AADSTS[name] ?? [50000, detail ?? 'There was an error issuing a token.'];
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace('Z', 'Z');
  return {
    status,
    body: {
      error: name,
      error_description: `AADSTS${code}: ${detail && !AADSTS[name] ? detail : text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

function renderMicrosoftError(error: SimError): Reply {
  // Microsoft says authorization_declined where RFC 8628 says access_denied.
  const name = error.error === 'access_denied' ? 'authorization_declined' : error.error;
  return microsoftError(error.status, name, error.description);
}

export interface MicrosoftSimulatorOptions extends OAuthSimulatorOptions {
  /** The tenant in the URL path the simulator serves (default "common"); other tenants answer AADSTS90002. */
  tenant?: string;
}

/**
 * Microsoft identity platform v2.0: endpoints under /{tenant}/oauth2/v2.0/, Basic or body client auth, public
 * clients with PKCE, a refresh token only with offline_access, refresh tokens that replace themselves on every use
 * while the old ones keep working, device code flow, client credentials with `<resource>/.default` scopes.
 */
export function microsoftProfile(tenant: string): OAuthSimProfile {
  const base = `/${tenant}/oauth2/v2.0`;
  return {
    provider: 'microsoft',
    paths: {
      authorize: `${base}/authorize`,
      token: `${base}/token`,
      deviceAuthorization: `${base}/devicecode`,
      api: '/v1.0/me',
    },
    clientAuth: 'basic-or-body',
    publicClients: true,
    pkce: 'public-only',
    scopeSeparator: ' ',
    offlineScope: 'offline_access',
    seedScope: 'offline_access User.Read',
    accessTokenLifetimeSeconds: 3600,
    rotation: 'rotate-keep-old',
    tokenPrefix: { access: 'eyJ0eXAiOi', refresh: '0.AXoA' },
    clientCredentials: {
      validateScope: (scope) =>
        scope && scope.split(' ').every((entry) => entry.endsWith('/.default'))
          ? undefined
          : { status: 400, error: 'invalid_scope', description: 'scope must be <resource>/.default' },
    },
    deviceFlow: {
      intervalSeconds: 1,
      expiresInSeconds: 900,
      extraFields: (userCode, url) => ({
        message: `To sign in, use a web browser to open the page ${url} and enter the code ${userCode} to authenticate.`,
      }),
    },
    renderError: renderMicrosoftError,
    unknownPath: (url) => {
      const other = /^\/([^/]+)\/oauth2\/v2\.0\//.exec(url.pathname);
      return other ? microsoftError(400, 'invalid_request', `Tenant '${other[1]}' not found.`) : undefined;
    },
  };
}

export function startSimulatedMicrosoft(
  options: MicrosoftSimulatorOptions = {},
): Promise<SimulatedOAuthProvider> {
  return startOAuthSimulator(microsoftProfile(options.tenant ?? 'common'), options);
}
