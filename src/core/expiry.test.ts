import { describe, expect, it } from 'vitest';
import {
  defaultExpiryPolicy,
  expiresAtFrom,
  isDue,
  isUsable,
  nextRefreshAt,
  refreshMargin,
  stableFraction,
} from './expiry.ts';
import type { Connection, TokenSet } from './types.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const policy = defaultExpiryPolicy;

function tokens(lifetimeMs: number, obtainedAt = T0): TokenSet {
  return { accessToken: 'at', refreshToken: 'rt', obtainedAt, expiresAt: obtainedAt + lifetimeMs };
}

function connection(overrides: Partial<Connection> = {}): Connection {
  return {
    name: 'c',
    provider: 'fitbit',
    clientId: 'id',
    tokens: tokens(8 * HOUR),
    status: 'active',
    failureCount: 0,
    version: 1,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

describe('refreshMargin / isDue', () => {
  it('uses 15 minutes for short-lived tokens (10 % of 1 h is only 6 min)', () => {
    const set = tokens(HOUR);
    expect(refreshMargin(set, policy)).toBe(15 * MIN);
    expect(isDue(set, set.expiresAt! - 15 * MIN - 1, policy)).toBe(false);
    expect(isDue(set, set.expiresAt! - 15 * MIN, policy)).toBe(true);
  });

  it('uses 10 % of the lifetime when that is larger (8 h → 48 min)', () => {
    const set = tokens(8 * HOUR);
    expect(refreshMargin(set, policy)).toBe(48 * MIN);
    expect(isDue(set, set.expiresAt! - 48 * MIN - 1, policy)).toBe(false);
    expect(isDue(set, set.expiresAt! - 48 * MIN, policy)).toBe(true);
    expect(isDue(set, set.expiresAt! - 20 * MIN, policy)).toBe(true);
  });

  it('falls back to the fixed margin when the issue time is unknown', () => {
    const set: TokenSet = { accessToken: 'at', expiresAt: T0 + 8 * HOUR };
    expect(refreshMargin(set, policy)).toBe(15 * MIN);
  });

  it('honours a configured margin and ratio', () => {
    const custom = { ...policy, marginMs: 5 * MIN, marginRatio: 0.5 };
    expect(refreshMargin(tokens(HOUR), custom)).toBe(30 * MIN);
    expect(refreshMargin(tokens(20 * MIN), custom)).toBe(10 * MIN);
  });

  it('never exceeds half the lifetime, so short-lived tokens are not due the moment they are issued', () => {
    expect(refreshMargin(tokens(4 * MIN), policy)).toBe(2 * MIN);
    expect(isDue(tokens(10 * MIN), T0, policy)).toBe(false);
    expect(isDue(tokens(10 * MIN), T0 + 5 * MIN, policy)).toBe(true);
  });

  it('treats a token set without access token or without expiry as due', () => {
    expect(isDue({ refreshToken: 'rt' }, T0, policy)).toBe(true);
    expect(isDue({ accessToken: 'at', refreshToken: 'rt' }, T0, policy)).toBe(true);
    expect(isDue({ ...tokens(8 * HOUR), accessToken: '' }, T0, policy)).toBe(true);
  });

  it('treats an expired token as due', () => {
    const set = tokens(HOUR);
    expect(isDue(set, set.expiresAt! + HOUR, policy)).toBe(true);
  });
});

describe('isUsable', () => {
  it('needs an access token with more than the skew left', () => {
    const set = tokens(HOUR);
    expect(isUsable(set, set.expiresAt! - 31_000)).toBe(true);
    expect(isUsable(set, set.expiresAt! - 30_000)).toBe(false);
    expect(isUsable(set, set.expiresAt! - 5_000, 0)).toBe(true);
    expect(isUsable({ ...set, accessToken: undefined }, T0)).toBe(false);
    expect(isUsable({ accessToken: 'at' }, T0)).toBe(false);
  });
});

describe('expiresAtFrom', () => {
  it('uses expires_in when it is a positive finite number', () => {
    expect(expiresAtFrom(28_800, T0, policy)).toBe(T0 + 8 * HOUR);
  });

  it('assumes the default lifetime when expires_in is missing or nonsense — never "no expiry"', () => {
    for (const value of [undefined, 0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(expiresAtFrom(value, T0, policy)).toBe(T0 + policy.defaultLifetimeMs);
    }
    expect(expiresAtFrom(undefined, T0, { ...policy, defaultLifetimeMs: 1234_000 })).toBe(T0 + 1234_000);
  });
});

describe('nextRefreshAt', () => {
  it('is the due time for random = 0, and jitter only ever delays it (by at most jitterRatio × margin)', () => {
    const c = connection();
    const margin = 48 * MIN;
    const due = c.tokens.expiresAt! - margin;
    expect(nextRefreshAt(c, policy, () => 0)).toBe(due);
    for (const r of [0.001, 0.25, 0.5, 0.999999]) {
      const at = nextRefreshAt(c, policy, () => r);
      expect(at).toBeGreaterThan(due);
      expect(at).toBeLessThanOrEqual(due + margin * policy.jitterRatio);
      expect(at).toBeLessThan(c.tokens.expiresAt!);
    }
  });

  it('is "now" (0) for a connection without access token', () => {
    expect(nextRefreshAt(connection({ tokens: { refreshToken: 'rt' } }), policy, () => 0.5)).toBe(0);
  });

  it('a failing connection waits for its backoff, but never runs before the token is due', () => {
    const c = connection();
    const due = nextRefreshAt(c, policy, () => 0);
    const soon = T0 + MIN;
    expect(nextRefreshAt({ ...c, status: 'failing', nextAttemptAt: soon }, policy, () => 0)).toBe(due);
    const late = due + HOUR;
    expect(nextRefreshAt({ ...c, status: 'failing', nextAttemptAt: late }, policy, () => 0)).toBe(late);
  });

  it('a failing connection with an unfinished attempt is retried after its backoff, even before due', () => {
    const pending = { attemptId: 'a', refreshToken: 'rt', startedAt: T0, owner: 'o' };
    const soon = T0 + MIN;
    expect(
      nextRefreshAt(connection({ status: 'failing', nextAttemptAt: soon, pending }), policy, () => 0),
    ).toBe(soon);
  });

  it('an unfinished attempt (crash between write-ahead and save) is picked up at once', () => {
    const pending = { attemptId: 'a', refreshToken: 'rt', startedAt: T0 + 5 * MIN, owner: 'o' };
    expect(nextRefreshAt(connection({ status: 'refreshing', pending }), policy, () => 0.5)).toBe(
      T0 + 5 * MIN,
    );
  });
});

describe('stableFraction', () => {
  it('is deterministic and in [0, 1)', () => {
    const seeds = ['a', 'fitbit-me:1767268800000', '', 'x'.repeat(500)];
    for (const seed of seeds) {
      const value = stableFraction(seed);
      expect(value).toBe(stableFraction(seed));
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
    expect(stableFraction('a:1')).not.toBe(stableFraction('a:2'));
  });
});
