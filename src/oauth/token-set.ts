import { expiresAtFrom, refreshTokenLifeFrom, type ExpiryPolicy } from '../core/expiry.ts';
import type { TokenSet } from '../core/types.ts';
import type { TokenResponse } from './token-client.ts';

/**
 * The token set a token response yields. Fields the response leaves out keep their previous values — in
 * particular the refresh token (RFC 6749 §6: no new refresh token means the old one stays valid). When the
 * refresh token dies comes from the response's own lifetime, else from the provider's known lifetime
 * (core/expiry refreshTokenLifeFrom); no previous token set means the response answers a consent; a token set without a refresh token has no such time.
 */
export function tokenSetFromResponse(
  response: TokenResponse,
  now: number,
  expiry: ExpiryPolicy,
  previous: TokenSet = {},
): TokenSet {
  const refreshToken = response.refreshToken ?? previous.refreshToken;
  const newRefreshToken = previous.refreshToken === undefined || refreshToken !== previous.refreshToken;
  return {
    accessToken: response.accessToken,
    refreshToken,
    expiresAt: expiresAtFrom(response.expiresIn, now, expiry),
    obtainedAt: now,
    ...(refreshToken !== undefined &&
      refreshTokenLifeFrom(
        {
          explicitSeconds: response.refreshTokenExpiresIn,
          newRefreshToken,
          consent: previous.refreshToken === undefined,
          previous,
        },
        now,
        expiry,
      )),
    scope: response.scope ?? previous.scope,
    tokenType: response.tokenType ?? previous.tokenType,
    providerUserId: response.providerUserId ?? previous.providerUserId,
  };
}
