import type { ProviderDefinition } from '../providers/types.ts';

/**
 * Adds client authentication in the provider's style: HTTP Basic (RFC 6749 §2.3.1, form-encoded id and secret)
 * or client_id/client_secret in the body. Public clients (no secret) always send client_id in the body.
 */
export function applyClientAuth(
  provider: ProviderDefinition,
  clientId: string,
  clientSecret: string | undefined,
  headers: Record<string, string>,
  body: URLSearchParams,
): void {
  if (provider.clientAuth === 'basic' && clientSecret !== undefined) {
    const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    return;
  }
  body.set('client_id', clientId);
  if (clientSecret !== undefined) body.set('client_secret', clientSecret);
}
