/**
 * A refresh token's life through real refreshes against the simulators: a rotating short-lived token that a
 * scheduler keeps renewing is not "expiring soon" (until its refresh is overdue), a provider-stated expiry
 * survives refreshes that do not repeat it, and a reconnect that keeps the old refresh token keeps its expiry.
 */
import { describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import { AnnouncedNotices, OVERDUE_REFRESH_SLACK_MS } from '../../src/keeper/expiry-notices.ts';
import { fitbitHarness, googleHarness } from './setup.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function movableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => (offset += ms) };
}

describe('refresh-token life', () => {
  it('a 12-hour token every refresh replaces is not expiring soon while refreshes come on time; it is once one is overdue', async () => {
    const h = await fitbitHarness({ sim: { refreshTokenExpiresInSeconds: 12 * 3600 } });
    const clock = movableClock();
    const keeper = await h.openKeeper({ clock });
    const { name } = await h.addConnection(keeper);
    const warnings: KeeperEvent[] = [];
    keeper.onEvent((event) => {
      if (event.type === 'expiring_soon') warnings.push(event);
    });
    const announced = new AnnouncedNotices();
    for (let i = 0; i < 6; i++) {
      await keeper.refresh(name, { force: true });
      keeper.announceExpiring(await keeper.connectionsForScheduling(), announced);
      const summary = await keeper.get(name);
      const left = (summary?.refreshTokenExpiresAt ?? 0) - clock.now();
      expect(left).toBeGreaterThan(12 * HOUR - 5_000);
      expect(left).toBeLessThanOrEqual(12 * HOUR);
      expect(summary).toMatchObject({ expiringSoon: false });
      expect(summary?.expiring).toBeUndefined();
      clock.advance(7 * HOUR); // before the planned refresh at about 7.2 hours
    }
    expect(warnings).toEqual([]);

    // Nobody refreshes it any more: once its planned refresh is overdue, a human is told.
    const planned = (await keeper.get(name))!.nextRefreshAt!;
    clock.advance(planned - clock.now() + OVERDUE_REFRESH_SLACK_MS);
    const overdue = await keeper.get(name);
    expect(overdue).toMatchObject({
      expiringSoon: true,
      expiring: { what: 'refresh_token', at: overdue?.refreshTokenExpiresAt },
    });
  });

  it('keeps the 7 days Google stated at consent through refreshes that do not repeat them (no 180-day rule slide)', async () => {
    const h = await googleHarness();
    const clock = movableClock();
    const keeper = await h.openKeeper({ clock });
    const grant = h.sim.seedGrant();
    const consentAt = clock.now();
    await keeper.addConnection({
      name: 'g',
      provider: 'google-health',
      clientId: h.sim.clientId,
      clientSecret: h.sim.clientSecret,
      tokens: {
        refreshToken: grant.refreshToken,
        accessToken: grant.accessToken,
        obtainedAt: consentAt,
        expiresAt: consentAt + HOUR,
        refreshTokenExpiresAt: consentAt + 7 * DAY,
        refreshTokenIssuedAt: consentAt,
      },
    });
    clock.advance(2 * HOUR);
    expect((await keeper.refresh('g', { force: true })).refreshTokenExpiresAt).toBe(consentAt + 7 * DAY);
    clock.advance(6 * DAY);
    const lastDay = await keeper.refresh('g', { force: true });
    expect(lastDay).toMatchObject({
      refreshTokenExpiresAt: consentAt + 7 * DAY,
      expiringSoon: true,
      expiring: { what: 'refresh_token', at: consentAt + 7 * DAY },
    });
  });

  it('a reconnect whose consent returns no refresh token keeps the old one and when it dies', async () => {
    const h = await fitbitHarness({ sim: { refreshTokenExpiresInSeconds: 30 * 86_400 } });
    const keeper = await h.openKeeper();
    const { name } = await h.addConnection(keeper);
    const refreshed = await keeper.refresh(name, { force: true });
    const before = (await keeper.store.get(name))!;
    expect(before.tokens.refreshTokenExpiresAt).toBe(refreshed.refreshTokenExpiresAt);

    await keeper.reconnect({
      name,
      provider: 'fitbit',
      clientId: before.clientId,
      clientSecret: before.clientSecret,
      tokens: { accessToken: 'fa_new-access-token-without-refresh', expiresAt: Date.now() + HOUR },
    });
    const after = (await keeper.store.get(name))!.tokens;
    expect(after.refreshToken).toBe(before.tokens.refreshToken);
    expect(after.refreshTokenExpiresAt).toBe(before.tokens.refreshTokenExpiresAt);
    expect(after.refreshTokenIssuedAt).toBe(before.tokens.refreshTokenIssuedAt);
  });
});
