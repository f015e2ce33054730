import { describe, expect, it } from 'vitest';
import { defaultExpiryPolicy, widestExpiringSoonMs, type ExpiryPolicy } from '../core/expiry.ts';
import type { Connection, TokenSet } from '../core/types.ts';
import {
  AnnouncedNotices,
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
    const c = connection({ refreshTokenExpiresAt: T0 + 7 * DAY });
    expect(open(c, T0 + 6 * DAY - 1, week)).toEqual([]);
    expect(open(c, T0 + 6 * DAY, week)).toHaveLength(1);
    // No lifetime in the policy: the token set's own (issued at T0, dies 7 days later) says the same.
    expect(open(c, T0 + 6 * DAY - 1)).toEqual([]);
    expect(open(c, T0 + 6 * DAY)).toHaveLength(1);
    // Eight days is not short-lived: 7 days of warning.
    expect(open(connection({ refreshTokenExpiresAt: T0 + 8 * DAY }), T0 + DAY)).toHaveLength(1);
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
