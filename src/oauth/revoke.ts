import { TokenkeeperError } from '../core/errors.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import { checkEndpointUrl } from '../core/url-policy.ts';
import { applyClientAuth } from './client-auth.ts';

/** RFC 7009 revocation. Providers answer 200 even for unknown tokens; anything else is reported. */
export async function revokeToken(options: {
  provider: ProviderDefinition;
  clientId: string;
  clientSecret?: string;
  token: string;
  timeoutMs: number;
}): Promise<void> {
  const { provider, clientId, clientSecret, token } = options;
  if (!provider.revokeUrl) {
    throw new TokenkeeperError(
      'usage',
      `provider ${provider.id} has no revocation endpoint; remove without --revoke`,
    );
  }
  const url = checkEndpointUrl(provider.revokeUrl, `revoke URL of provider "${provider.id}"`);
  const body = new URLSearchParams({ token });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  applyClientAuth(provider, clientId, clientSecret, headers, body);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'manual',
    });
    await response.body?.cancel();
  } catch (error) {
    throw new TokenkeeperError(
      'provider_unavailable',
      `cannot reach ${provider.id} revocation endpoint: ${(error as Error).message}`,
    );
  }
  if (!response.ok) {
    throw new TokenkeeperError(
      'provider_rejected',
      `${provider.id} revocation endpoint answered HTTP ${response.status}`,
    );
  }
}
