import { describe, expect, it } from 'vitest';
import { defaultExpiryPolicy, expiringSoonWindowMs, type ExpiryPolicy } from '../core/expiry.ts';
import { createProviderRegistry } from '../providers/registry.ts';
import type { TokenSet } from '../core/types.ts';
import { tokenSetFromResponse } from './token-set.ts';

const DAY = 86_400_000;
const now = 1_800_000_000_000;
const issued = now - 30 * DAY;
const previous: TokenSet = {
  accessToken: 'at-old',
  refreshToken: 'rt-old',
  expiresAt: now - 1,
  obtainedAt: issued,
  refreshTokenExpiresAt: issued + 180 * DAY,
};
const renewedByUse: ExpiryPolicy = {
  ...defaultExpiryPolicy,
  refreshTokenLifetime: { ms: 180 * DAY, renewedByUse: true },
};
const fixed: ExpiryPolicy = {
  ...defaultExpiryPolicy,
  refreshTokenLifetime: { ms: 7 * DAY, renewedByUse: false },
};

describe('when the refresh token of a token set dies', () => {
  it("the response's own refresh_token_expires_in wins over the provider's lifetime", () => {
    const tokens = tokenSetFromResponse(
      { accessToken: 'at', refreshToken: 'rt-new', refreshTokenExpiresIn: 3600 },
      now,
      renewedByUse,
      previous,
    );
    expect(tokens.refreshTokenExpiresAt).toBe(now + 3_600_000);
  });

  it('a rotated refresh token starts its full lifetime, even where use does not renew it', () => {
    const tokens = tokenSetFromResponse({ accessToken: 'at', refreshToken: 'rt-new' }, now, fixed, {
      ...previous,
      refreshTokenExpiresAt: now + DAY,
    });
    expect(tokens.refreshTokenExpiresAt).toBe(now + 7 * DAY);
  });

  it('a rotated refresh token inherits the expiry where the lifetime counts from consent (Spotify)', () => {
    const fromConsent: ExpiryPolicy = {
      ...defaultExpiryPolicy,
      refreshTokenLifetime: { ms: 180 * DAY, renewedByUse: false, fromConsent: true },
    };
    const tokens = tokenSetFromResponse(
      { accessToken: 'at', refreshToken: 'rt-new' },
      now,
      fromConsent,
      previous,
    );
    expect(tokens.refreshTokenExpiresAt).toBe(previous.refreshTokenExpiresAt);
    expect(
      tokenSetFromResponse({ accessToken: 'at', refreshToken: 'rt' }, now, fromConsent).refreshTokenExpiresAt,
    ).toBe(now + 180 * DAY);
  });

  it('a refresh renews a lifetime that use renews, with or without the same refresh token sent back', () => {
    for (const refreshToken of [undefined, 'rt-old']) {
      const tokens = tokenSetFromResponse({ accessToken: 'at', refreshToken }, now, renewedByUse, previous);
      expect(tokens.refreshTokenExpiresAt).toBe(now + 180 * DAY);
    }
  });

  it('a fixed lifetime is kept when the refresh token is not rotated', () => {
    const granted = { ...previous, refreshTokenExpiresAt: issued + 7 * DAY };
    for (const refreshToken of [undefined, 'rt-old']) {
      const tokens = tokenSetFromResponse({ accessToken: 'at', refreshToken }, now, fixed, granted);
      expect(tokens.refreshTokenExpiresAt).toBe(issued + 7 * DAY);
    }
  });

  it('an earlier refresh_token_expires_in is kept while the provider says nothing new and knows no lifetime', () => {
    const tokens = tokenSetFromResponse({ accessToken: 'at' }, now, defaultExpiryPolicy, previous);
    expect(tokens.refreshTokenExpiresAt).toBe(previous.refreshTokenExpiresAt);
  });

  it('none when nobody says: no lifetime in the response or the policy, or no refresh token at all', () => {
    const { refreshTokenExpiresAt: _none, ...timeless } = previous;
    expect(
      tokenSetFromResponse({ accessToken: 'at', refreshToken: 'rt-new' }, now, defaultExpiryPolicy, timeless)
        .refreshTokenExpiresAt,
    ).toBeUndefined();
    // Client-credentials connections have no refresh token, so nothing of theirs expires by this rule.
    expect(
      tokenSetFromResponse({ accessToken: 'at' }, now, renewedByUse).refreshTokenExpiresAt,
    ).toBeUndefined();
  });

  it('initial consent (no previous token set) gets the full lifetime, or the explicit one', () => {
    expect(
      tokenSetFromResponse({ accessToken: 'at', refreshToken: 'rt' }, now, fixed).refreshTokenExpiresAt,
    ).toBe(now + 7 * DAY);
    expect(
      tokenSetFromResponse({ accessToken: 'at', refreshToken: 'rt', refreshTokenExpiresIn: 60 }, now, fixed)
        .refreshTokenExpiresAt,
    ).toBe(now + 60_000);
  });
});

describe('a refresh token through many refreshes', () => {
  const HOUR = 3_600_000;

  it('a fixed 30-day expiry the provider stated once keeps its 7-day window to the end (no flicker)', () => {
    let tokens = tokenSetFromResponse(
      { accessToken: 'a', refreshToken: 'r', refreshTokenExpiresIn: 30 * 86_400, expiresIn: 3600 },
      now,
      defaultExpiryPolicy,
    );
    const windows = new Set<number>();
    for (let hour = 1; hour < 30 * 24; hour++) {
      tokens = tokenSetFromResponse(
        { accessToken: `a${hour}`, expiresIn: 3600 },
        now + hour * HOUR,
        defaultExpiryPolicy,
        tokens,
      );
      windows.add(expiringSoonWindowMs(tokens, defaultExpiryPolicy));
    }
    expect(tokens.refreshTokenExpiresAt).toBe(now + 30 * DAY);
    expect([...windows]).toEqual([7 * DAY]);
  });

  it('a connection saved before expiries were kept, under Google "Testing" (7 days from consent): unknown, not 7 days from now', () => {
    const registry = createProviderRegistry({ 'google-health': { publishingStatus: 'testing' } });
    const testing: ExpiryPolicy = {
      ...defaultExpiryPolicy,
      refreshTokenLifetime: registry.get('google-health').refreshTokenLifetime,
    };
    const legacy: TokenSet = { accessToken: 'a', refreshToken: 'r', obtainedAt: now - HOUR, expiresAt: now };
    const refreshed = tokenSetFromResponse({ accessToken: 'b', expiresIn: 3600 }, now, testing, legacy);
    expect(refreshed.refreshTokenExpiresAt).toBeUndefined();
    // A new consent knows: 7 days from now.
    const consent = tokenSetFromResponse(
      { accessToken: 'c', refreshToken: 'r2', expiresIn: 3600 },
      now,
      testing,
    );
    expect(consent).toMatchObject({ refreshTokenExpiresAt: now + 7 * DAY, refreshTokenIssuedAt: now });
  });
});
