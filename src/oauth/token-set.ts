import { expiresAtFrom, type ExpiryPolicy } from '../core/expiry.ts';
import type { TokenSet } from '../core/types.ts';
import type { TokenResponse } from './token-client.ts';

/**
 * The token set a token response yields. Fields the response leaves out keep their previous values — in
 * particular the refresh token (RFC 6749 §6: no new refresh token means the old one stays valid).
 */
export function tokenSetFromResponse(
  response: TokenResponse,
  now: number,
  expiry: ExpiryPolicy,
  previous: TokenSet = {},
): TokenSet {
  return {
    accessToken: response.accessToken,
    refreshToken: response.refreshToken ?? previous.refreshToken,
    expiresAt: expiresAtFrom(response.expiresIn, now, expiry),
    obtainedAt: now,
    scope: response.scope ?? previous.scope,
    tokenType: response.tokenType ?? previous.tokenType,
    providerUserId: response.providerUserId ?? previous.providerUserId,
  };
}
