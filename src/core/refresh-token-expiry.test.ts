import { describe, expect, it } from 'vitest';
import {
  defaultExpiryPolicy,
  expiringSoonWindowMs,
  isDue,
  nextRefreshAt,
  refreshTokenLifeFrom,
  type ExpiryPolicy,
  type RefreshTokenFacts,
} from './expiry.ts';
import type { Connection, TokenSet } from './types.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

const unused6Months: ExpiryPolicy = {
  ...defaultExpiryPolicy,
  refreshTokenLifetime: { ms: 180 * DAY, renewedByUse: true },
};
const sevenDaysFromConsent: ExpiryPolicy = {
  ...defaultExpiryPolicy,
  refreshTokenLifetime: { ms: 7 * DAY, renewedByUse: false },
};

const refresh = (previous: TokenSet, extra: Partial<RefreshTokenFacts> = {}): RefreshTokenFacts => ({
  newRefreshToken: false,
  consent: false,
  previous,
  ...extra,
});
const expiryAfter = (facts: RefreshTokenFacts, policy: ExpiryPolicy, now = T0) =>
  refreshTokenLifeFrom(facts, now, policy).refreshTokenExpiresAt;

describe('refreshTokenLifeFrom', () => {
  it("takes the provider's refresh_token_expires_in over any known rule", () => {
    expect(expiryAfter(refresh({}, { explicitSeconds: 3600 }), unused6Months)).toBe(T0 + HOUR);
  });

  it('ignores an explicit lifetime that is not a positive number', () => {
    for (const explicitSeconds of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const facts = { explicitSeconds, newRefreshToken: true, consent: true };
      expect(refreshTokenLifeFrom(facts, T0, defaultExpiryPolicy)).toEqual({});
    }
  });

  it('restarts a lifetime renewed by use on every refresh, when the rule gave the expiry', () => {
    const previous = { obtainedAt: T0 - DAY, refreshTokenExpiresAt: T0 - DAY + 180 * DAY };
    expect(refreshTokenLifeFrom(refresh(previous), T0, unused6Months)).toEqual({
      refreshTokenExpiresAt: T0 + 180 * DAY,
      refreshTokenIssuedAt: T0,
    });
  });

  it('slides a rule-made expiry also after a reconnect kept the old refresh token (a newer token set)', () => {
    const issuedAt = T0 - 10 * DAY;
    const previous = {
      obtainedAt: T0 - HOUR,
      refreshTokenIssuedAt: issuedAt,
      refreshTokenExpiresAt: issuedAt + 180 * DAY,
    };
    expect(expiryAfter(refresh(previous), unused6Months)).toBe(T0 + 180 * DAY);
  });

  it('never moves an expiry the provider stated later by a rule renewed by use (Google "Testing": 7 days)', () => {
    const consent = refreshTokenLifeFrom(
      { explicitSeconds: 7 * 86_400, newRefreshToken: true, consent: true },
      T0,
      unused6Months,
    );
    const previous = { obtainedAt: T0, ...consent };
    const later = T0 + 2 * HOUR;
    expect(refreshTokenLifeFrom(refresh(previous), later, unused6Months)).toEqual({
      refreshTokenExpiresAt: T0 + 7 * DAY,
      refreshTokenIssuedAt: T0,
    });
  });

  it('keeps the expiry of a reused token whose lifetime counts from consent', () => {
    const previous = { obtainedAt: T0 - DAY, refreshTokenExpiresAt: T0 + 2 * DAY };
    expect(expiryAfter(refresh(previous), sevenDaysFromConsent)).toBe(T0 + 2 * DAY);
  });

  it('gives a consent, or a new (rotated) refresh token, the full lifetime', () => {
    expect(expiryAfter({ newRefreshToken: true, consent: true }, sevenDaysFromConsent)).toBe(T0 + 7 * DAY);
    const previous = { obtainedAt: T0 - HOUR, refreshTokenExpiresAt: T0 + DAY };
    expect(expiryAfter(refresh(previous, { newRefreshToken: true }), sevenDaysFromConsent)).toBe(
      T0 + 7 * DAY,
    );
  });

  it('leaves the expiry of a connection saved before expiries were kept unknown under a rule counted from consent', () => {
    const legacy = { obtainedAt: T0 - HOUR };
    expect(expiryAfter(refresh(legacy), sevenDaysFromConsent)).toBeUndefined();
    const spotify: ExpiryPolicy = {
      ...defaultExpiryPolicy,
      refreshTokenLifetime: { ms: 180 * DAY, renewedByUse: false, fromConsent: true },
    };
    expect(expiryAfter(refresh(legacy, { newRefreshToken: true }), spotify)).toBeUndefined();
    // Renewed by use, it is known: the refresh itself starts the clock.
    expect(expiryAfter(refresh(legacy), unused6Months)).toBe(T0 + 180 * DAY);
  });

  it('says nothing when neither the provider nor the catalog does, but keeps what the provider said before', () => {
    expect(refreshTokenLifeFrom({ newRefreshToken: true, consent: true }, T0, defaultExpiryPolicy)).toEqual(
      {},
    );
    const previous = {
      obtainedAt: T0 - DAY,
      refreshTokenExpiresAt: T0 + 3 * DAY,
      refreshTokenIssuedAt: T0 - DAY,
    };
    expect(refreshTokenLifeFrom(refresh(previous), T0, defaultExpiryPolicy)).toEqual({
      refreshTokenExpiresAt: T0 + 3 * DAY,
      refreshTokenIssuedAt: T0 - DAY,
    });
    // A rotated token the provider says nothing about is taken to die no later than the one it replaces.
    expect(expiryAfter(refresh(previous, { newRefreshToken: true }), defaultExpiryPolicy)).toBe(T0 + 3 * DAY);
  });

  it('starts the lifetime anew only when the expiry moved later, not when a countdown gives a second more', () => {
    const previous = {
      obtainedAt: T0 - HOUR,
      refreshTokenExpiresAt: T0 + DAY,
      refreshTokenIssuedAt: T0 - DAY,
    };
    const countdown = refreshTokenLifeFrom(
      refresh(previous, { explicitSeconds: 86_401 }),
      T0,
      defaultExpiryPolicy,
    );
    expect(countdown.refreshTokenIssuedAt).toBe(T0 - DAY);
    const renewed = refreshTokenLifeFrom(
      refresh(previous, { explicitSeconds: 2 * 86_400 }),
      T0,
      defaultExpiryPolicy,
    );
    expect(renewed).toEqual({ refreshTokenExpiresAt: T0 + 2 * DAY, refreshTokenIssuedAt: T0 });
  });
});

describe('expiringSoonWindowMs', () => {
  const issued = (lifetime: number, issuedAt = T0, obtainedAt = issuedAt): TokenSet => ({
    accessToken: 'at',
    refreshToken: 'rt',
    obtainedAt,
    expiresAt: obtainedAt + HOUR,
    refreshTokenExpiresAt: issuedAt + lifetime,
    refreshTokenIssuedAt: issuedAt,
  });

  it('warns a week ahead by default, and a day ahead for tokens that live a week or less', () => {
    expect(expiringSoonWindowMs(issued(180 * DAY), unused6Months)).toBe(7 * DAY);
    expect(expiringSoonWindowMs(issued(7 * DAY), sevenDaysFromConsent)).toBe(DAY);
    // Without a catalog rule the lifetime the provider stated decides.
    expect(expiringSoonWindowMs(issued(7 * DAY), defaultExpiryPolicy)).toBe(DAY);
    expect(expiringSoonWindowMs(issued(30 * DAY), defaultExpiryPolicy)).toBe(7 * DAY);
    // The rule decides for a set that does not know when its lifetime started.
    const { refreshTokenIssuedAt: _, ...unknownStart } = issued(7 * DAY);
    expect(expiringSoonWindowMs(unknownStart, unused6Months)).toBe(7 * DAY);
  });

  it('never opens the default window for more than half the lifetime', () => {
    expect(expiringSoonWindowMs(issued(12 * HOUR), defaultExpiryPolicy)).toBe(6 * HOUR);
  });

  it('keeps the window of the lifetime as issued while the token runs down (no flicker at the 7-day mark)', () => {
    for (const daysLater of [0, 22, 23.5, 29]) {
      expect(expiringSoonWindowMs(issued(30 * DAY, T0, T0 + daysLater * DAY), defaultExpiryPolicy)).toBe(
        7 * DAY,
      );
    }
  });

  it('uses a configured window as it is', () => {
    const policy = { ...sevenDaysFromConsent, expiringSoonMs: 3 * DAY };
    expect(expiringSoonWindowMs(issued(7 * DAY), policy)).toBe(3 * DAY);
  });
});

describe('keepAlive', () => {
  const longLived: TokenSet = {
    accessToken: 'at',
    refreshToken: 'rt',
    obtainedAt: T0,
    expiresAt: T0 + 60 * DAY,
  };
  const policy: ExpiryPolicy = { ...defaultExpiryPolicy, keepAliveMs: 14 * DAY };

  it('makes a connection due once it was last renewed keepAlive ago, however long its access token lives', () => {
    expect(isDue(longLived, T0 + 14 * DAY - 1, policy)).toBe(false);
    expect(isDue(longLived, T0 + 14 * DAY, policy)).toBe(true);
    expect(isDue(longLived, T0 + 14 * DAY, defaultExpiryPolicy)).toBe(false);
  });

  it('plans the refresh at the keep-alive moment when that comes first', () => {
    const connection: Connection = {
      name: 'c',
      provider: 'p',
      clientId: 'id',
      tokens: longLived,
      status: 'active',
      failureCount: 0,
      version: 1,
      createdAt: T0,
      updatedAt: T0,
    };
    expect(nextRefreshAt(connection, policy, () => 0.5)).toBe(T0 + 14 * DAY);
    expect(nextRefreshAt(connection, defaultExpiryPolicy, () => 0)).toBeGreaterThan(T0 + 50 * DAY);
  });
});
