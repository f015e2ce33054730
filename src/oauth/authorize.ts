import { createHash, randomBytes } from 'node:crypto';
import { TokenkeeperError } from '../core/errors.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import { checkEndpointUrl } from '../core/url-policy.ts';

export interface AuthorizationRequest {
  url: string;
  state: string;
  codeVerifier?: string;
  redirectUri: string;
}

/** RFC 7636: a 43-character verifier (32 random bytes) and its S256 challenge. */
export function createPkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export function buildAuthorizationRequest(options: {
  provider: ProviderDefinition;
  clientId: string;
  redirectUri: string;
  scopes: string[];
}): AuthorizationRequest {
  const { provider, clientId, redirectUri, scopes } = options;
  if (!provider.authorizationUrl) {
    throw new TokenkeeperError(
      'config',
      `provider "${provider.id}" has no authorization URL: set providers.${provider.id}.authorizationUrl in the config`,
    );
  }
  const url = checkEndpointUrl(provider.authorizationUrl, `authorization URL of provider "${provider.id}"`);
  const state = randomBytes(24).toString('base64url');
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('redirect_uri', redirectUri);
  if (scopes.length > 0) url.searchParams.set('scope', scopes.join(provider.scopeSeparator));
  url.searchParams.set('state', state);
  for (const [key, value] of Object.entries(provider.extraAuthParams)) url.searchParams.set(key, value);
  let codeVerifier: string | undefined;
  if (provider.pkce) {
    const pkce = createPkcePair();
    codeVerifier = pkce.verifier;
    url.searchParams.set('code_challenge', pkce.challenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return { url: url.toString(), state, codeVerifier, redirectUri };
}

/**
 * Reads the authorization response (the redirect URL's query). Checks state before anything else: a mismatch
 * means the response is not for this request (CSRF or a stale browser tab).
 */
export function parseAuthorizationResponse(redirected: URL, expectedState: string): string {
  const params = redirected.searchParams;
  const error = params.get('error');
  if (params.get('state') !== expectedState) {
    throw new TokenkeeperError(
      'usage',
      'authorization response has the wrong state (a stale or foreign redirect): start connect again',
    );
  }
  if (error) {
    const description = params.get('error_description');
    throw new TokenkeeperError(
      'usage',
      `authorization was not granted: ${error}${description ? ` (${description})` : ''}`,
    );
  }
  const code = params.get('code');
  if (!code) throw new TokenkeeperError('usage', 'authorization response has no code');
  return code;
}
