import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.ts';
import { runFleetScheduler } from '../../src/daemon/fleet-scheduler.ts';
import { runScheduler } from '../../src/daemon/scheduler.ts';
import { createKeeper } from '../../src/keeper/keeper.ts';
import type { FleetMember } from '../../src/stores/store.ts';
import { startSimulatedFitbit, type SimulatedFitbit } from '../fakes/index.ts';
import { KEY_A_HEX, usePostgres } from './setup.ts';
import { waitUntil } from './worker-processes.ts';

const pgFixture = usePostgres();
let sim: SimulatedFitbit | undefined;
const homes: string[] = [];

afterEach(async () => {
  await sim?.close();
  sim = undefined;
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

describe('the daemon scheduler on a PostgreSQL store (fleet mode, in process)', () => {
  it('sleeps until connections fall due, refreshes each once when it does, and leaves the fleet on abort', async () => {
    sim = await startSimulatedFitbit({ latencyMs: 5 });
    const provider = sim;
    const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-pgsched-'));
    homes.push(home);
    const url = pgFixture.storeUrl();
    const keeper = await createKeeper({
      store: url,
      env: { TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: KEY_A_HEX },
      config: { providers: { fitbit: { tokenUrl: provider.tokenUrl } }, refresh: { marginSeconds: 1 } },
    });
    try {
      // Access tokens that expire in 2.5 s with a 1 s margin: due about 1.5 s from now, none before.
      const now = Date.now();
      const dueAt = now + 1_500;
      for (let i = 0; i < 5; i++) {
        const grant = provider.seedGrant({ userId: `SLEEPER${i}` });
        await keeper.addConnection({
          name: `sleeper-${i}`,
          provider: 'fitbit',
          clientId: provider.clientId,
          clientSecret: provider.clientSecret,
          tokens: {
            accessToken: grant.accessToken,
            refreshToken: grant.refreshToken,
            expiresAt: now + 2_500,
            obtainedAt: now,
            providerUserId: grant.userId,
          },
        });
      }
      const stop = new AbortController();
      const running = runScheduler(keeper, {
        concurrency: 4,
        maxSleepMs: 60_000,
        signal: stop.signal,
        logger: silentLogger,
      });
      await waitUntil(() => provider.stats.refreshSuccesses === 5, {
        timeoutMs: 20_000,
        describe: () => `5 refreshes, got ${provider.stats.refreshSuccesses}`,
      });
      const firstRefresh = provider.stats.requests.find((request) => request.grantType === 'refresh_token');
      expect(firstRefresh?.at).toBeGreaterThanOrEqual(dueAt - 50);
      stop.abort();
      const stats = await running;
      // The rows were written before the scheduler installed its 1 s margin, so the index first planned them by
      // the default 15 min margin: claimed early, found not due, handed back with the right time — never refreshed
      // early (above), and each refreshed exactly once.
      expect(stats.failed).toBe(0);
      expect(provider.stats.refreshRequests).toBe(5);
      const schema = new URL(url).searchParams.get('schema');
      expect(await pgFixture.sql(`SELECT owner FROM ${schema}.workers`)).toEqual([]);
      expect(
        await pgFixture.sql(`SELECT name FROM ${schema}.connections WHERE claim_owner IS NOT NULL`),
      ).toEqual([]);
      for (const connection of await keeper.store.list()) {
        expect(connection.tokens.refreshToken).toBe(
          provider.activeRefreshToken(connection.tokens.providerUserId ?? ''),
        );
      }
    } finally {
      await keeper.close();
    }
  });

  it('starts the next claimed connection as soon as a slot frees up, while the previous claim is still being handed back', async () => {
    sim = await startSimulatedFitbit({ latencyMs: 5 });
    const provider = sim;
    const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-pgsched-'));
    homes.push(home);
    const url = pgFixture.storeUrl();
    const keeper = await createKeeper({
      store: url,
      env: { TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: KEY_A_HEX },
      config: { providers: { fitbit: { tokenUrl: provider.tokenUrl } } },
    });
    try {
      const now = Date.now();
      for (let i = 0; i < 3; i++) {
        const grant = provider.seedGrant({ userId: `QUEUED${i}` });
        await keeper.addConnection({
          name: `queued-${i}`,
          provider: 'fitbit',
          clientId: provider.clientId,
          clientSecret: provider.clientSecret,
          tokens: {
            accessToken: grant.accessToken,
            refreshToken: grant.refreshToken,
            expiresAt: now - 1_000,
            obtainedAt: now - 3_600_000,
            providerUserId: grant.userId,
          },
        });
      }
      // Hand-backs wait until the test lets them through; the refreshes must not wait for them.
      let letThrough: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (letThrough = resolve));
      let released = 0;
      const store = keeper.store as Required<Pick<typeof keeper.store, 'joinFleet'>>;
      const joinFleet = async (owner: string): Promise<FleetMember> => {
        const member = await store.joinFleet(owner);
        return {
          owner: member.owner,
          recheckMs: member.recheckMs,
          claimDue: (request) => member.claimDue(request),
          release: async (claim, options) => {
            await gate;
            await member.release(claim, options);
            released++;
          },
          nextDueAt: () => member.nextDueAt(),
          leave: () => member.leave(),
        };
      };
      const stop = new AbortController();
      const running = runFleetScheduler(keeper, joinFleet, {
        concurrency: 1,
        maxSleepMs: 60_000,
        rateLimits: [],
        signal: stop.signal,
        logger: silentLogger,
      });
      await waitUntil(() => provider.stats.refreshSuccesses === 3, {
        timeoutMs: 10_000,
        describe: () => `3 refreshes one after the other, got ${provider.stats.refreshSuccesses}`,
      });
      expect(released).toBe(0);
      letThrough();
      stop.abort();
      expect(await running).toEqual({ refreshed: 3, failed: 0 });
      expect(released).toBe(3);
      const schema = new URL(url).searchParams.get('schema');
      expect(
        await pgFixture.sql(`SELECT name FROM ${schema}.connections WHERE claim_owner IS NOT NULL`),
      ).toEqual([]);
    } finally {
      await keeper.close();
    }
  });
});
