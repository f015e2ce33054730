/**
 * A fleet worker claims only due connections, so it finds connections in their warning window with a sweep over
 * the store's refresh-token expiry column: every worker raises the same `expiring_soon` (one id), each once. And
 * the store's indexed due time follows the provider's keep-alive floor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import type { Clock } from '../../src/core/types.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { runFleetScheduler } from '../../src/daemon/fleet-scheduler.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { startSimulatedFitbit, type SimulatedFitbit } from '../fakes/index.ts';
import { KEY_A_HEX, usePostgres } from './setup.ts';

const pgFixture = usePostgres();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let sim: SimulatedFitbit | undefined;
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await sim?.close();
  sim = undefined;
});

async function openKeeper(
  url: string,
  provider: SimulatedFitbit,
  options: { keepAliveDays?: number; clock?: Clock } = {},
): Promise<Keeper> {
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-pgsweep-'));
  const { keepAliveDays, clock } = options;
  const keeper = await createKeeper({
    store: url,
    env: { TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: KEY_A_HEX },
    config: {
      providers: { fitbit: { tokenUrl: provider.tokenUrl, ...(keepAliveDays && { keepAliveDays }) } },
    },
    ...(clock && { clock }),
  });
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  cleanups.push(() => keeper.close());
  return keeper;
}

async function add(
  keeper: Keeper,
  provider: SimulatedFitbit,
  name: string,
  refreshTokenExpiresAt?: number,
  accessMs = 8 * HOUR,
) {
  const grant = provider.seedGrant({ userId: name.toUpperCase() });
  const now = keeper.now();
  await keeper.addConnection({
    name,
    provider: 'fitbit',
    clientId: provider.clientId,
    clientSecret: provider.clientSecret,
    tokens: {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      obtainedAt: now,
      expiresAt: now + accessMs,
      providerUserId: grant.userId,
      ...(refreshTokenExpiresAt !== undefined && { refreshTokenExpiresAt }),
    },
  });
}

describe('the fleet scheduler and refresh-token lifetimes (PostgreSQL)', () => {
  it('reads only connections near expiry, and each worker raises their expiring_soon once, with one id', async () => {
    sim = await startSimulatedFitbit({ latencyMs: 1 });
    const provider = sim;
    const url = pgFixture.storeUrl();
    const workers = [await openKeeper(url, provider), await openKeeper(url, provider)];
    const [first] = workers as [Keeper, Keeper];
    const now = Date.now();
    await add(first, provider, 'dying', now + 12 * HOUR);
    await add(first, provider, 'far', now + 60 * DAY);
    await add(first, provider, 'timeless');

    // The index: refresh tokens that die by then, plus every connection of the named providers.
    const store = first.store;
    expect((await store.expiringBefore?.(now + 7 * DAY))?.map((c) => c.name)).toEqual(['dying']);
    expect((await store.expiringBefore?.(now + 90 * DAY))?.map((c) => c.name)).toEqual(['dying', 'far']);
    expect((await store.expiringBefore?.(now, ['fitbit']))?.map((c) => c.name)).toEqual([
      'dying',
      'far',
      'timeless',
    ]);

    const stop = new AbortController();
    const seen = workers.map((keeper) => {
      // A worker that listed every connection would fail here: the sweep must go through the index.
      keeper.store.list = () => Promise.reject(new Error('a fleet worker must not list every connection'));
      const sweeps = { count: 0 };
      const indexed = keeper.store.expiringBefore?.bind(keeper.store);
      keeper.store.expiringBefore = (at, providers) => {
        sweeps.count++;
        return indexed ? indexed(at, providers) : Promise.resolve([]);
      };
      const events: Array<Extract<KeeperEvent, { type: 'expiring_soon' }>> = [];
      keeper.onEvent((event) => {
        if (event.type === 'expiring_soon') events.push(event);
      });
      const running = runFleetScheduler(keeper, (owner) => keeper.store.joinFleet!(owner), {
        concurrency: 2,
        maxSleepMs: 30,
        signal: stop.signal,
        logger: silentLogger,
        rateLimits: [],
        expirySweepMs: 40,
      });
      return { sweeps, events, running };
    });
    const started = Date.now();
    while (seen.some(({ sweeps }) => sweeps.count < 8) && Date.now() - started < 15_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stop.abort();
    for (const { running } of seen) expect((await running).failed).toBe(0);

    for (const { sweeps, events } of seen) {
      expect(sweeps.count).toBeGreaterThanOrEqual(8);
      expect(events.map((event) => [event.name, event.what])).toEqual([['dying', 'refresh_token']]);
    }
    expect(seen[0]?.events[0]?.eventId).toBe(seen[1]?.events[0]?.eventId);
    expect(provider.stats.refreshRequests).toBe(0);
  });

  it('plans with the provider keep-alive: a 30-day access token is refreshed once a day has passed', async () => {
    sim = await startSimulatedFitbit({ latencyMs: 1 });
    const provider = sim;
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const keeper = await openKeeper(pgFixture.storeUrl(), provider, { keepAliveDays: 1, clock });
    await add(keeper, provider, 'idle', undefined, 30 * DAY);
    const stop = new AbortController();
    const running = runFleetScheduler(keeper, (owner) => keeper.store.joinFleet!(owner), {
      concurrency: 2,
      maxSleepMs: 30,
      signal: stop.signal,
      logger: silentLogger,
      rateLimits: [],
    });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    await pause(300);
    offset = DAY - 60_000;
    await pause(300);
    expect(provider.stats.refreshRequests).toBe(0);
    offset = DAY + 60_000;
    const started = Date.now();
    while (provider.stats.refreshSuccesses === 0 && Date.now() - started < 10_000) await pause(20);
    await pause(300);
    stop.abort();
    expect((await running).failed).toBe(0);
    expect(provider.stats.refreshRequests).toBe(1);
  });
});
