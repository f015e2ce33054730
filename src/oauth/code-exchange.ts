import type { TokenSet } from '../core/types.ts';
import type { ExpiryPolicy } from '../core/expiry.ts';
import { tokenSetFromResponse } from './token-set.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import { requestToken } from './token-client.ts';

/** Exchanges an authorization code (with its PKCE verifier) for the first token set. */
export async function exchangeCode(options: {
  provider: ProviderDefinition;
  clientId: string;
  clientSecret?: string;
  code: string;
  codeVerifier?: string;
  redirectUri: string;
  timeoutMs: number;
  maxBodyBytes: number;
  expiry: ExpiryPolicy;
  now: number;
}): Promise<TokenSet> {
  const params: Record<string, string> = {
    grant_type: 'authorization_code',
    code: options.code,
    redirect_uri: options.redirectUri,
  };
  if (options.codeVerifier) params.code_verifier = options.codeVerifier;
  const response = await requestToken({
    provider: options.provider,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    params,
    timeoutMs: options.timeoutMs,
    maxBodyBytes: options.maxBodyBytes,
  });
  return tokenSetFromResponse(response, options.now, options.expiry);
}
