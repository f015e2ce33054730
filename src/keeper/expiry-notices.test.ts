import { describe, expect, it } from 'vitest';
import { defaultExpiryPolicy, widestExpiringSoonMs, type ExpiryPolicy } from '../core/expiry.ts';
import type { Connection, TokenSet } from '../core/types.ts';
import {
  AnnouncedNotices,
  OVERDUE_REFRESH_SLACK_MS,
  expiringSoonEventId,
  expiryNotices,
  nextWarningAt,
  openNotices,
  type ExpiryNotice,
} from './expiry-notices.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

function connection(tokens: Partial<TokenSet>, overrides: Partial<Connection> = {}): Connection {
  return {
    name: 'me',
    provider: 'google',
    clientId: 'id',
    clientSecret: 'secret',
    tokens: { accessToken: 'at', refreshToken: 'rt', obtainedAt: T0, expiresAt: T0 + HOUR, ...tokens },
    status: 'active',
    failureCount: 0,
    version: 1,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

const open = (c: Connection, now: number, policy: ExpiryPolicy = defaultExpiryPolicy, secret?: number) =>
  openNotices(expiryNotices(c, { policy, clientSecretExpiresAt: secret }), now);

describe('expiryNotices / openNotices: the warning windows', () => {
  it('opens the 7-day window of a long-lived refresh token exactly 7 days before it dies', () => {
    const c = connection({ refreshTokenExpiresAt: T0 + 90 * DAY });
    const opensAt = T0 + 83 * DAY;
    expect(open(c, opensAt - 1)).toEqual([]);
    expect(open(c, opensAt)).toEqual([
      { what: 'refresh_token', expiresAt: T0 + 90 * DAY, warnFrom: opensAt },
    ]);
    expect(nextWarningAt(expiryNotices(c, { policy: defaultExpiryPolicy }), T0)).toBe(opensAt);
    // Past its death it is still expiring (a human must act), and no window is ahead any more.
    expect(open(c, T0 + 91 * DAY)).toHaveLength(1);
    expect(nextWarningAt(expiryNotices(c, { policy: defaultExpiryPolicy }), T0 + 91 * DAY)).toBeUndefined();
  });

  it('gives refresh tokens that live 7 days or less a 1-day window (known lifetime or the token set own)', () => {
    const week: ExpiryPolicy = {
      ...defaultExpiryPolicy,
      refreshTokenLifetime: { ms: 7 * DAY, renewedByUse: false },
    };
    const c = connection({ refreshTokenExpiresAt: T0 + 7 * DAY, refreshTokenIssuedAt: T0 });
    expect(open(c, T0 + 6 * DAY - 1, week)).toEqual([]);
    expect(open(c, T0 + 6 * DAY, week)).toHaveLength(1);
    // No lifetime in the policy: the token set's own (issued at T0, dies 7 days later) says the same.
    expect(open(c, T0 + 6 * DAY - 1)).toEqual([]);
    expect(open(c, T0 + 6 * DAY)).toHaveLength(1);
    // Eight days is not short-lived, but the window never takes more than half the lifetime: 4 days.
    const eightDays = connection({ refreshTokenExpiresAt: T0 + 8 * DAY, refreshTokenIssuedAt: T0 });
    expect(open(eightDays, T0 + 4 * DAY - 1)).toEqual([]);
    expect(open(eightDays, T0 + 4 * DAY)).toHaveLength(1);
    const thirtyDays = connection({ refreshTokenExpiresAt: T0 + 30 * DAY, refreshTokenIssuedAt: T0 });
    expect(open(thirtyDays, T0 + 23 * DAY)).toHaveLength(1);
  });

  it('uses a configured window instead of either default', () => {
    const threeDays: ExpiryPolicy = { ...defaultExpiryPolicy, expiringSoonMs: 3 * DAY };
    const c = connection({ refreshTokenExpiresAt: T0 + 90 * DAY });
    expect(open(c, T0 + 87 * DAY - 1, threeDays)).toEqual([]);
    expect(open(c, T0 + 87 * DAY, threeDays)).toHaveLength(1);
    expect(widestExpiringSoonMs([defaultExpiryPolicy, threeDays])).toBe(7 * DAY);
    expect(widestExpiringSoonMs([threeDays, { ...defaultExpiryPolicy, expiringSoonMs: 30 * DAY }])).toBe(
      30 * DAY,
    );
  });

  it('warns about a known client secret expiry 7 days ahead (configured: that), whatever the refresh token does', () => {
    const week: ExpiryPolicy = {
      ...defaultExpiryPolicy,
      refreshTokenLifetime: { ms: 7 * DAY, renewedByUse: false },
    };
    const c = connection({});
    const secretDies = T0 + 30 * DAY;
    expect(open(c, secretDies - 7 * DAY - 1, week, secretDies)).toEqual([]);
    expect(open(c, secretDies - 7 * DAY, week, secretDies)).toEqual([
      { what: 'client_secret', expiresAt: secretDies, warnFrom: secretDies - 7 * DAY },
    ]);
    const twoDays: ExpiryPolicy = { ...defaultExpiryPolicy, expiringSoonMs: 2 * DAY };
    expect(open(c, secretDies - 2 * DAY - 1, twoDays, secretDies)).toEqual([]);
    expect(open(c, secretDies - 2 * DAY, twoDays, secretDies)).toHaveLength(1);
  });

  it('has nothing to say about a connection that needs a human, or whose refresh token does not expire', () => {
    const dying = { refreshTokenExpiresAt: T0 + HOUR };
    expect(open(connection(dying, { status: 'needs_reauth' }), T0, defaultExpiryPolicy, T0 + HOUR)).toEqual(
      [],
    );
    expect(open(connection(dying, { status: 'provider_retired' }), T0)).toEqual([]);
    expect(open(connection(dying, { status: 'failing' }), T0)).toHaveLength(1);
    expect(open(connection({}), T0 + 1000 * DAY)).toEqual([]);
  });
});

describe('expiryNotices: refresh tokens the next planned refresh renews', () => {
  // A 12-hour refresh token that every refresh replaces (Fitbit-like rotation), refreshed about every 7 hours.
  const twelveHours = { refreshTokenExpiresAt: T0 + 12 * HOUR, refreshTokenIssuedAt: T0 };
  const planned = T0 + 7 * HOUR;
  const rotating = (c: Connection, now: number, nextRefreshAt: number | undefined = planned) =>
    openNotices(
      expiryNotices(c, { policy: defaultExpiryPolicy, rotation: 'single-use', nextRefreshAt }),
      now,
    );

  it('is not at risk while the planned refresh is on time, and is warned about once it is overdue', () => {
    const c = connection(twelveHours);
    expect(rotating(c, planned)).toEqual([]);
    expect(rotating(c, planned + OVERDUE_REFRESH_SLACK_MS - 1)).toEqual([]);
    expect(rotating(c, planned + OVERDUE_REFRESH_SLACK_MS)).toEqual([
      { what: 'refresh_token', expiresAt: T0 + 12 * HOUR, warnFrom: planned + OVERDUE_REFRESH_SLACK_MS },
    ]);
  });

  it('opens at the window (half of its 12 hours) when refreshing would not renew it', () => {
    const opens = T0 + 6 * HOUR;
    const reusable = expiryNotices(connection(twelveHours), {
      policy: defaultExpiryPolicy,
      rotation: 'reusable',
      nextRefreshAt: planned,
    });
    expect(nextWarningAt(reusable, T0)).toBe(opens);
    // The last refresh did not renew it (its lifetime started before that refresh).
    const notRenewed = connection({ ...twelveHours, refreshTokenIssuedAt: T0 - HOUR });
    expect(rotating(notRenewed, opens)).toHaveLength(1);
    // Failing: the planned refresh is a retry that may not come through.
    expect(rotating(connection(twelveHours, { status: 'failing' }), opens)).toHaveLength(1);
    // The planned refresh comes too late to save it, or there is none.
    expect(rotating(connection(twelveHours), opens, T0 + 12 * HOUR)).toHaveLength(1);
    const unplanned = expiryNotices(connection(twelveHours), {
      policy: defaultExpiryPolicy,
      rotation: 'single-use',
    });
    expect(openNotices(unplanned, opens)).toHaveLength(1);
  });

  it('counts a lifetime renewed by use as renewed by the planned refresh, whatever the rotation', () => {
    const sliding: ExpiryPolicy = {
      ...defaultExpiryPolicy,
      refreshTokenLifetime: { ms: 12 * HOUR, renewedByUse: true },
    };
    const notices = expiryNotices(connection(twelveHours), {
      policy: sliding,
      rotation: 'reusable',
      nextRefreshAt: planned,
    });
    expect(openNotices(notices, planned)).toEqual([]);
  });
});

describe('expiringSoonEventId', () => {
  const notice = (expiresAt: number, what: ExpiryNotice['what'] = 'refresh_token'): ExpiryNotice => ({
    what,
    expiresAt,
    warnFrom: expiresAt - DAY,
  });
  const me = { name: 'me', provider: 'keycloak' };
  const dies = T0 + 10 * DAY + 17 * 60_000;

  it('is the same for the same connection, thing and expiry to the hour (a countdown a few seconds off)', () => {
    const id = expiringSoonEventId(me, notice(dies));
    expect(id).toMatch(/^evt_exp_[0-9a-f]{32}$/);
    expect(expiringSoonEventId(me, { ...notice(dies + 4_000), warnFrom: 0 })).toBe(id);
    expect(expiringSoonEventId(me, notice(dies - 9 * 60_000))).toBe(id);
  });

  it('differs for another expiry, thing, connection or provider', () => {
    const id = expiringSoonEventId(me, notice(dies));
    expect(expiringSoonEventId(me, notice(dies + 2 * HOUR))).not.toBe(id);
    expect(expiringSoonEventId(me, notice(dies, 'client_secret'))).not.toBe(id);
    expect(expiringSoonEventId({ ...me, name: 'you' }, notice(dies))).not.toBe(id);
    expect(expiringSoonEventId({ ...me, provider: 'google' }, notice(dies))).not.toBe(id);
  });
});

describe('AnnouncedNotices', () => {
  it('reports each id once per connection, and again after the connection lost it', () => {
    const announced = new AnnouncedNotices();
    expect(announced.fresh('me', ['a'])).toEqual(['a']);
    expect(announced.fresh('me', ['a'])).toEqual([]);
    expect(announced.fresh('you', ['a'])).toEqual(['a']);
    expect(announced.fresh('me', ['a', 'b'])).toEqual(['b']);
    expect(announced.fresh('me', [])).toEqual([]);
    expect(announced.fresh('me', ['a'])).toEqual(['a']);
  });
});
