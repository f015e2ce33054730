import type { Connection, TokenSet } from './types.ts';

export interface ExpiryPolicy {
  /** Refresh when the access token has at most this long left (ms). Default 15 min. */
  marginMs: number;
  /** …or this fraction of its lifetime, whichever is larger. Default 0.1. */
  marginRatio: number;
  /** Lifetime assumed when the provider sends no expires_in (ms) — never "forever". Default 1 h. */
  defaultLifetimeMs: number;
  /** Extra random spread of the scheduled refresh time, as a fraction of the margin. Default 0.2. */
  jitterRatio: number;
}

export const defaultExpiryPolicy: ExpiryPolicy = {
  marginMs: 15 * 60_000,
  marginRatio: 0.1,
  defaultLifetimeMs: 60 * 60_000,
  jitterRatio: 0.2,
};

export function refreshMargin(tokens: TokenSet, policy: ExpiryPolicy): number {
  if (tokens.expiresAt === undefined || tokens.obtainedAt === undefined) return policy.marginMs;
  const lifetime = Math.max(0, tokens.expiresAt - tokens.obtainedAt);
  // Never more than half the lifetime: a 15-minute margin on a 10-minute token would make it due at once, forever.
  return Math.min(Math.max(policy.marginMs, lifetime * policy.marginRatio), lifetime / 2);
}

/** Design step 1: due when `expiresAt - now <= margin`. A token set with no access token or no expiry is due. */
export function isDue(tokens: TokenSet, now: number, policy: ExpiryPolicy): boolean {
  if (!tokens.accessToken || tokens.expiresAt === undefined) return true;
  return tokens.expiresAt - now <= refreshMargin(tokens, policy);
}

/** A token with less than this left is not handed out: it could expire before the caller's request arrives. */
export const USABLE_SKEW_MS = 30_000;

/** Whether the access token can still be handed out (it has not expired, with a small safety skew). */
export function isUsable(tokens: TokenSet, now: number, skewMs = USABLE_SKEW_MS): boolean {
  return !!tokens.accessToken && tokens.expiresAt !== undefined && tokens.expiresAt - now > skewMs;
}

/** Whole seconds until `expiresAt` (never negative), as OAuth's expires_in counts them. */
export function expiresInSeconds(expiresAt: number | undefined, now: number): number | undefined {
  return expiresAt === undefined ? undefined : Math.max(0, Math.floor((expiresAt - now) / 1000));
}

/**
 * When a scheduler should next refresh this connection: the moment it becomes due, pushed later by a jitter of
 * up to `jitterRatio` of the margin, so connections issued together do not all hit the provider in the same
 * second. (Later, not earlier: a refresh before the due time would be a no-op.) `random` should be stable for
 * one token set so that repeated planning gives the same answer. Failing connections wait for their backoff.
 */
export function nextRefreshAt(connection: Connection, policy: ExpiryPolicy, random: () => number): number {
  const { tokens } = connection;
  let due = 0;
  if (tokens.accessToken && tokens.expiresAt !== undefined) {
    const margin = refreshMargin(tokens, policy);
    due = tokens.expiresAt - margin + random() * margin * policy.jitterRatio;
  }
  if (connection.status === 'failing' && connection.nextAttemptAt !== undefined) {
    // An unfinished attempt is retried after its backoff even if the token is not due yet.
    return connection.pending ? connection.nextAttemptAt : Math.max(connection.nextAttemptAt, due);
  }
  if (connection.pending) return connection.pending.startedAt;
  return due;
}

/** A number in [0, 1) derived from a string: a jitter that stays the same for the same token set. */
export function stableFraction(seed: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    hash ^= seed.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32;
}

export function expiresAtFrom(
  expiresInSeconds: number | undefined,
  now: number,
  policy: ExpiryPolicy,
): number {
  const lifetimeMs =
    expiresInSeconds !== undefined && Number.isFinite(expiresInSeconds) && expiresInSeconds > 0
      ? expiresInSeconds * 1000
      : policy.defaultLifetimeMs;
  return now + lifetimeMs;
}

/**
 * The policy for one provider: without expires_in, assume the shorter of the configured default lifetime and the
 * provider's documented one (a refresh too early is harmless; handing out an expired token is not).
 */
export function withDocumentedLifetime(policy: ExpiryPolicy, documentedMs: number | undefined): ExpiryPolicy {
  if (documentedMs === undefined || documentedMs >= policy.defaultLifetimeMs) return policy;
  return { ...policy, defaultLifetimeMs: documentedMs };
}
