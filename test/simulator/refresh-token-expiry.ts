import type { Reply } from './http.ts';

/**
 * Adds `refresh_token_expires_in` (draft-ietf-oauth-refresh-token-expiration) to a success body that issues a
 * refresh token, as servers that announce their refresh tokens' lifetime do. Undefined seconds: left as it is.
 */
export function withRefreshTokenExpiry<Body extends object>(body: Body, seconds: number | undefined): Body {
  if (seconds === undefined || !('refresh_token' in body) || body.refresh_token === undefined) return body;
  return { ...body, refresh_token_expires_in: seconds };
}

/** The same for a whole reply: only successful JSON answers change. */
export function replyWithRefreshTokenExpiry(reply: Reply, seconds: number | undefined): Reply {
  if (reply.status !== 200 || typeof reply.body !== 'object' || reply.body === null) return reply;
  return { ...reply, body: withRefreshTokenExpiry(reply.body, seconds) };
}
