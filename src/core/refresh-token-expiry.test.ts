import { describe, expect, it } from 'vitest';
import {
  defaultExpiryPolicy,
  expiringSoonWindowMs,
  isDue,
  isExpiringSoon,
  nextRefreshAt,
  refreshTokenExpiresAtFrom,
  type ExpiryPolicy,
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

describe('refreshTokenExpiresAtFrom', () => {
  it("takes the provider's refresh_token_expires_in over any known rule", () => {
    const at = refreshTokenExpiresAtFrom(
      { explicitSeconds: 3600, newRefreshToken: false },
      T0,
      unused6Months,
    );
    expect(at).toBe(T0 + HOUR);
  });

  it('ignores an explicit lifetime that is not a positive number', () => {
    for (const explicitSeconds of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(
        refreshTokenExpiresAtFrom({ explicitSeconds, newRefreshToken: true }, T0, defaultExpiryPolicy),
      ).toBe(undefined);
    }
  });

  it('restarts a lifetime renewed by use on every refresh', () => {
    const previous = T0 - DAY + 180 * DAY;
    const at = refreshTokenExpiresAtFrom({ newRefreshToken: false, previous }, T0, unused6Months);
    expect(at).toBe(T0 + 180 * DAY);
  });

  it('keeps the expiry of a reused token whose lifetime counts from consent', () => {
    const previous = T0 + 2 * DAY;
    const at = refreshTokenExpiresAtFrom({ newRefreshToken: false, previous }, T0, sevenDaysFromConsent);
    expect(at).toBe(previous);
  });

  it('gives a new (rotated or first) refresh token the full lifetime', () => {
    const at = refreshTokenExpiresAtFrom(
      { newRefreshToken: true, previous: T0 + DAY },
      T0,
      sevenDaysFromConsent,
    );
    expect(at).toBe(T0 + 7 * DAY);
  });

  it('says nothing when neither the provider nor the catalog does, but keeps what the provider said before', () => {
    expect(refreshTokenExpiresAtFrom({ newRefreshToken: true }, T0, defaultExpiryPolicy)).toBe(undefined);
    const previous = T0 + 3 * DAY;
    expect(refreshTokenExpiresAtFrom({ newRefreshToken: false, previous }, T0, defaultExpiryPolicy)).toBe(
      previous,
    );
  });
});

describe('expiringSoonWindowMs / isExpiringSoon', () => {
  const issued = (lifetime: number, obtainedAt = T0): TokenSet => ({
    accessToken: 'at',
    refreshToken: 'rt',
    obtainedAt,
    expiresAt: obtainedAt + HOUR,
    refreshTokenExpiresAt: obtainedAt + lifetime,
  });

  it('warns a week ahead by default, and a day ahead for tokens that live a week or less', () => {
    expect(expiringSoonWindowMs(issued(180 * DAY), unused6Months)).toBe(7 * DAY);
    expect(expiringSoonWindowMs(issued(7 * DAY), sevenDaysFromConsent)).toBe(DAY);
    // Without a catalog rule the lifetime the provider stated decides.
    expect(expiringSoonWindowMs(issued(7 * DAY), defaultExpiryPolicy)).toBe(DAY);
    expect(expiringSoonWindowMs(issued(30 * DAY), defaultExpiryPolicy)).toBe(7 * DAY);
  });

  it('uses a configured window as it is', () => {
    const policy = { ...sevenDaysFromConsent, expiringSoonMs: 3 * DAY };
    expect(expiringSoonWindowMs(issued(7 * DAY), policy)).toBe(3 * DAY);
  });

  it('is inside the window from its first moment on, and never for a token with no known expiry', () => {
    const tokens = issued(7 * DAY);
    expect(isExpiringSoon(tokens, T0 + 6 * DAY - 1, sevenDaysFromConsent)).toBe(false);
    expect(isExpiringSoon(tokens, T0 + 6 * DAY, sevenDaysFromConsent)).toBe(true);
    expect(isExpiringSoon(tokens, T0 + 8 * DAY, sevenDaysFromConsent)).toBe(true);
    const { refreshTokenExpiresAt: _, ...unknown } = tokens;
    expect(isExpiringSoon(unknown, T0 + 100 * DAY, sevenDaysFromConsent)).toBe(false);
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
