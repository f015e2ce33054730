import { DAY_MS } from './duration.ts';
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
  /**
   * Refresh at least this often (ms) even when the access token is not due, so a refresh token that dies when
   * unused never lapses while a scheduler runs. Per provider; undefined: no such floor.
   */
  keepAliveMs?: number;
  /** How long the provider's refresh tokens live (per provider); undefined: they do not expire by time. */
  refreshTokenLifetime?: RefreshTokenLifetime;
  /**
   * Warn (`expiring_soon`) when the refresh token dies within this long (ms). Undefined: 7 days, or 1 day for
   * refresh tokens issued for 7 days or less, at most half the lifetime (see expiringSoonWindowMs).
   */
  expiringSoonMs?: number;
}

/** A provider's refresh-token lifetime rule. */
export interface RefreshTokenLifetime {
  /** How long a refresh token lives (ms). */
  ms: number;
  /**
   * True when every use restarts the clock (Google's "unused for 6 months"); false when it counts from the
   * consent that issued the token (Google apps in "Testing": 7 days). A rotated refresh token always starts anew.
   */
  renewedByUse: boolean;
  /**
   * True when only a new consent starts the clock: a rotated refresh token inherits its predecessor's expiry
   * (Spotify: "measured from the moment of the user's original authorization"). Default false.
   */
  fromConsent?: boolean;
}

/** The early-warning window for refresh tokens, unless configured: a week, or a day for week-long tokens. */
export const DEFAULT_EXPIRING_SOON_MS = 7 * DAY_MS;
export const SHORT_LIVED_EXPIRING_SOON_MS = DAY_MS;

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
  const keepAliveAt = keepAliveDueAt(tokens, policy);
  if (keepAliveAt !== undefined && keepAliveAt <= now) return true;
  return tokens.expiresAt - now <= refreshMargin(tokens, policy);
}

/** When the keep-alive floor makes a token set due (its last renewal + keepAliveMs), if the policy has one. */
export function keepAliveDueAt(tokens: TokenSet, policy: ExpiryPolicy): number | undefined {
  if (policy.keepAliveMs === undefined || tokens.obtainedAt === undefined) return undefined;
  return tokens.obtainedAt + policy.keepAliveMs;
}

/** What a token response tells about the refresh token's life, next to the token set it replaces. */
export interface RefreshTokenFacts {
  /** The response's refresh_token_expires_in (seconds), if it has one. */
  explicitSeconds?: number;
  /** The response carries a refresh token other than the previous one (or it is the first). */
  newRefreshToken: boolean;
  /** The response answers a consent (authorization code, device code), not a refresh. */
  consent: boolean;
  /** The token set before this response (none at a consent). */
  previous?: Pick<TokenSet, 'refreshTokenExpiresAt' | 'refreshTokenIssuedAt' | 'obtainedAt'>;
}

/** A refresh token's expiry and the moment its current lifetime started (see TokenSet). */
export type RefreshTokenLife = Pick<TokenSet, 'refreshTokenExpiresAt' | 'refreshTokenIssuedAt'>;

/**
 * An expiry later than the previous one by more than this was renewed; less is the same expiry recomputed (a
 * provider whose refresh_expires_in counts down to a fixed session end gives a time a second off each refresh).
 */
const RENEWAL_SLACK_MS = 60_000;

/**
 * When a refresh token dies after a token response at `now`, and when its lifetime started. The provider's own
 * `refresh_token_expires_in` wins; else the policy's rule: a consent, or a new refresh token whose lifetime does
 * not count from consent, gets the full lifetime; a rule renewed by use slides only an expiry the rule itself
 * produced (an expiry the provider stated is kept: Google's answers to refreshes do not repeat the 7 days of a
 * "Testing" app). Anything else keeps the previous expiry, or leaves it unknown rather than invent a later date
 * (a connection saved before expiries were recorded, under a rule that counts from consent).
 */
export function refreshTokenLifeFrom(
  facts: RefreshTokenFacts,
  now: number,
  policy: ExpiryPolicy,
): RefreshTokenLife {
  const previous = facts.previous?.refreshTokenExpiresAt;
  const expiresAt = refreshTokenExpiresAtFrom(facts, now, policy);
  if (expiresAt === undefined) return {};
  const renewed = facts.consent || previous === undefined || expiresAt - previous > RENEWAL_SLACK_MS;
  const issuedAt = renewed ? now : facts.previous?.refreshTokenIssuedAt;
  return {
    refreshTokenExpiresAt: expiresAt,
    ...(issuedAt !== undefined && { refreshTokenIssuedAt: issuedAt }),
  };
}

function refreshTokenExpiresAtFrom(
  facts: RefreshTokenFacts,
  now: number,
  policy: ExpiryPolicy,
): number | undefined {
  const { explicitSeconds } = facts;
  if (explicitSeconds !== undefined && Number.isFinite(explicitSeconds) && explicitSeconds > 0) {
    return now + explicitSeconds * 1000;
  }
  const previous = facts.previous?.refreshTokenExpiresAt;
  const rule = policy.refreshTokenLifetime;
  if (!rule) return previous;
  if (facts.consent || (facts.newRefreshToken && !rule.fromConsent)) return now + rule.ms;
  if (rule.renewedByUse && (previous === undefined || previous === producedByRule(facts.previous, rule))) {
    return now + rule.ms;
  }
  return previous;
}

/**
 * The expiry the rule would have given the previous refresh token when its lifetime last started (its issue, else
 * the previous set's): equal to the previous expiry only if the rule produced that expiry.
 */
function producedByRule(
  previous: RefreshTokenFacts['previous'],
  rule: RefreshTokenLifetime,
): number | undefined {
  const startedAt = previous?.refreshTokenIssuedAt ?? previous?.obtainedAt;
  return startedAt === undefined ? undefined : startedAt + rule.ms;
}

/** The lifetime a refresh token was issued with: its own (expiry − issue), else the policy's rule. */
export function refreshTokenLifetimeMs(tokens: TokenSet, policy: ExpiryPolicy): number | undefined {
  const { refreshTokenExpiresAt, refreshTokenIssuedAt } = tokens;
  if (refreshTokenExpiresAt !== undefined && refreshTokenIssuedAt !== undefined) {
    return refreshTokenExpiresAt - refreshTokenIssuedAt;
  }
  return policy.refreshTokenLifetime?.ms;
}

/**
 * The early-warning window of a token set: configured, else 7 days (1 day when its refresh token was issued for
 * 7 days or less), and never more than half its lifetime (a 12-hour token would otherwise be warned about from
 * its first moment on). The lifetime is the one it was issued with, so the window stays put as it runs down.
 */
export function expiringSoonWindowMs(tokens: TokenSet, policy: ExpiryPolicy): number {
  if (policy.expiringSoonMs !== undefined) return policy.expiringSoonMs;
  const lifetime = refreshTokenLifetimeMs(tokens, policy);
  if (lifetime === undefined) return DEFAULT_EXPIRING_SOON_MS;
  const window =
    lifetime <= DEFAULT_EXPIRING_SOON_MS ? SHORT_LIVED_EXPIRING_SOON_MS : DEFAULT_EXPIRING_SOON_MS;
  return Math.min(window, Math.max(0, lifetime) / 2);
}

/** The early-warning window of a client secret: configured, else 7 days (a secret's lifetime says nothing about it). */
export function clientSecretWindowMs(policy: ExpiryPolicy): number {
  return policy.expiringSoonMs ?? DEFAULT_EXPIRING_SOON_MS;
}

/** The widest early-warning window these policies can give any refresh token or client secret. */
export function widestExpiringSoonMs(policies: Iterable<ExpiryPolicy>): number {
  let widest = DEFAULT_EXPIRING_SOON_MS;
  for (const policy of policies) widest = Math.max(widest, clientSecretWindowMs(policy));
  return widest;
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
    const keepAliveAt = keepAliveDueAt(tokens, policy);
    if (keepAliveAt !== undefined) due = Math.min(due, keepAliveAt);
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
