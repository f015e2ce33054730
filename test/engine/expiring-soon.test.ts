/**
 * The keeper's side of `expiring_soon` on a SQLite store: which connections a sweep reads (the expiry column, and
 * providers whose client secret expires), and a connection due for a refresh left to it before it is judged.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import { AnnouncedNotices } from '../../src/keeper/expiry-notices.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { fitbitHarness } from './setup.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function keeperWith(fitbitSettings: Record<string, unknown>, refreshTokenExpiresInSeconds?: number) {
  const h = await fitbitHarness({ sim: { refreshTokenExpiresInSeconds } });
  const config = { ...h.config, providers: { fitbit: { ...h.config.providers?.fitbit, ...fitbitSettings } } };
  const keeper = await createKeeper({ config, env: h.env });
  onTestFinished(() => keeper.close());
  return { h, keeper };
}

async function add(
  keeper: Keeper,
  h: Awaited<ReturnType<typeof fitbitHarness>>,
  name: string,
  tokens: { refreshTokenExpiresAt?: number; withAccessToken?: boolean } = {},
) {
  const grant = h.sim.seedGrant({ userId: name.toUpperCase() });
  const now = Date.now();
  await keeper.addConnection({
    name,
    provider: 'fitbit',
    clientId: h.sim.clientId,
    clientSecret: h.sim.clientSecret,
    tokens: {
      refreshToken: grant.refreshToken,
      ...(tokens.withAccessToken !== false && {
        accessToken: grant.accessToken,
        obtainedAt: now,
        expiresAt: now + 8 * HOUR,
      }),
      ...(tokens.refreshTokenExpiresAt !== undefined && {
        refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
      }),
    },
  });
}

const names = (connections: Array<{ name: string }>) => connections.map((c) => c.name);

describe('connections near expiry (SQLite)', () => {
  it('are those whose refresh token dies within the widest window, or all of a provider whose secret expires', async () => {
    const now = Date.now();
    const quiet = await keeperWith({});
    await add(quiet.keeper, quiet.h, 'dying', { refreshTokenExpiresAt: now + 5 * DAY });
    await add(quiet.keeper, quiet.h, 'far', { refreshTokenExpiresAt: now + 20 * DAY });
    await add(quiet.keeper, quiet.h, 'timeless');
    expect(names(await quiet.keeper.connectionsNearExpiry())).toEqual(['dying']);

    // A 30-day window on the provider widens what is read.
    const wide = await keeperWith({ expiringSoonDays: 30 });
    await add(wide.keeper, wide.h, 'far', { refreshTokenExpiresAt: now + 20 * DAY });
    await add(wide.keeper, wide.h, 'timeless');
    expect(names(await wide.keeper.connectionsNearExpiry())).toEqual(['far']);

    // The client secret expires soon: every connection of the provider may be warned.
    const secret = await keeperWith({ clientSecretExpiresAt: new Date(now + 2 * DAY).toISOString() });
    await add(secret.keeper, secret.h, 'far', { refreshTokenExpiresAt: now + 20 * DAY });
    await add(secret.keeper, secret.h, 'timeless');
    expect(names(await secret.keeper.connectionsNearExpiry())).toEqual(['far', 'timeless']);
  });

  it('leaves a due connection to its refresh, then warns with the expiry the refresh gave', async () => {
    // Refresh tokens that live 4 hours, under a 1-day window: each is inside it from the moment it is issued,
    // and dies before the next planned refresh (its 8-hour access token's) could renew it.
    const { h, keeper } = await keeperWith({ expiringSoonDays: 1 }, 4 * 3600);
    await add(keeper, h, 'due', { refreshTokenExpiresAt: Date.now() + HOUR, withAccessToken: false });
    const events: KeeperEvent[] = [];
    keeper.onEvent((event) => events.push(event));
    const announced = new AnnouncedNotices();
    expect(keeper.announceExpiring(await keeper.connectionsForScheduling(), announced)).toEqual([]);
    expect((await keeper.get('due'))?.expiringSoon).toBe(true);

    await keeper.refresh('due');
    const raised = keeper.announceExpiring(await keeper.connectionsForScheduling(), announced);
    const renewed = (await keeper.store.get('due'))?.tokens.refreshTokenExpiresAt;
    expect(renewed).toBeGreaterThan(Date.now() + 3 * HOUR);
    expect(raised).toMatchObject([{ name: 'due', what: 'refresh_token', expiresAt: renewed }]);
    expect(events.filter((event) => event.type === 'expiring_soon')).toEqual(raised);
  });
});
