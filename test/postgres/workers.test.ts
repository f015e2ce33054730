/**
 * A fleet of real `tokenkeeper run --store postgres://…` processes sharing one throwaway PostgreSQL cluster,
 * refreshing connections at a simulated Fitbit (single-use refresh tokens, 50 ms latency): every connection is
 * refreshed exactly once, none twice, none lost — also when a worker is SIGKILLed or SIGTERMed mid-run — and a
 * per-user rate limit holds across the fleet.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';
import { startSimulatedFitbit, type SimulatedFitbit } from '../fakes/index.ts';
import { KEY_A_HEX, usePostgres } from './setup.ts';
import { connectionNameOf, seedDueConnections, userIdOf } from './seed.ts';
import {
  createFleetHome,
  startWorker,
  waitUntil,
  type FleetHome,
  type WorkerProcess,
} from './worker-processes.ts';

const pgFixture = usePostgres();
const HOUR = 3_600_000;
// Refreshing only: the daemon's HTTP server would bind its default port, shared with every other test.
const RUN_ARGS = ['--no-server'];

let sim: SimulatedFitbit | undefined;
let home: FleetHome | undefined;
let workers: WorkerProcess[] = [];

afterEach(async () => {
  await Promise.all(workers.map((worker) => worker.kill()));
  workers = [];
  await sim?.close();
  sim = undefined;
  home?.remove();
  home = undefined;
});

function schemaOf(url: string): string {
  return new URL(url).searchParams.get('schema') as string;
}

async function setUp(count: number, simOptions: Parameters<typeof startSimulatedFitbit>[0] = {}) {
  sim = await startSimulatedFitbit({ latencyMs: 50, rateLimitPerHour: 1_000, ...simOptions });
  const url = pgFixture.storeUrl({ workerTtl: '3' });
  const store = await pgFixture.openStore(url);
  await seedDueConnections(store, sim, count);
  return { url, store, schema: schemaOf(url), sim };
}

async function progress(schema: string) {
  const [row] = await pgFixture.sql<{ refreshed: string; unfinished: string }>(
    `SELECT count(*) FILTER (WHERE last_refresh_at IS NOT NULL) AS refreshed,
            count(*) FILTER (WHERE (last_refresh_at IS NULL AND status NOT IN ('needs_reauth', 'provider_retired'))
                                OR pending_attempt_id IS NOT NULL) AS unfinished
     FROM ${schema}.connections`,
  );
  return {
    refreshed: Number(row?.refreshed),
    unfinished: Number(row?.unfinished),
  };
}

/** Every connection holds exactly the refresh token the provider considers current: nothing was lost. */
async function expectNothingLost(store: PostgresStore, provider: SimulatedFitbit, count: number) {
  const connections = await store.list();
  expect(connections).toHaveLength(count);
  const lost = connections.filter((connection, index) => {
    expect(connection.name).toBe(connectionNameOf(index));
    return (
      connection.status !== 'active' ||
      connection.pending !== undefined ||
      connection.tokens.refreshToken !== provider.activeRefreshToken(userIdOf(index))
    );
  });
  expect(
    lost.map((connection) => `${connection.name}: ${connection.status} ${connection.lastError ?? ''}`),
  ).toEqual([]);
}

function ownerPattern(worker: WorkerProcess): string {
  return `%:${worker.pid}:%`;
}

describe('a fleet of tokenkeeper run processes on PostgreSQL', () => {
  // Generous timeouts: these start real processes, and CI machines may be busy.
  it(
    'refreshes 2,000 due connections exactly once each with 3 workers, one of them SIGKILLed mid-run',
    { timeout: 120_000 },
    async () => {
      const count = 2_000;
      const concurrency = 8;
      const { url, store, schema, sim: provider } = await setUp(count);
      home = createFleetHome({ keyHex: KEY_A_HEX, tokenUrl: provider.tokenUrl });
      const fleetHome = home;
      workers = [1, 2, 3].map(() => startWorker(fleetHome, url, { concurrency, args: RUN_ARGS }));
      const [victim, ...survivors] = workers as [WorkerProcess, ...WorkerProcess[]];

      // Kill the victim while it is busy: a third of the work done, and the victim holding claims.
      let held: Array<{ name: string }> = [];
      await waitUntil(
        async () => {
          if ((await progress(schema)).refreshed < count / 3) return false;
          held = await pgFixture.sql(`SELECT name FROM ${schema}.connections WHERE claim_owner LIKE $1`, [
            ownerPattern(victim),
          ]);
          return held.length > 0;
        },
        {
          timeoutMs: 30_000,
          describe: () => `victim busy at a third; its log: ${victim.stderr().slice(-500)}`,
        },
      );
      await victim.kill();
      // Whatever it held then — claims queued or mid-refresh, and any it took since — must be finished by the others.
      const orphaned = await pgFixture.sql<{ name: string }>(
        `SELECT name FROM ${schema}.connections WHERE claim_owner LIKE $1`,
        [ownerPattern(victim)],
      );

      await waitUntil(async () => (await progress(schema)).unfinished === 0, {
        timeoutMs: 40_000,
        describe: () => `all refreshed; survivor log: ${survivors[0]?.stderr().slice(-800)}`,
      });
      const survivorExits = await Promise.all(survivors.map((worker) => worker.terminate()));
      expect(survivorExits, survivors.map((worker) => worker.stderr().slice(-800)).join('\n')).toEqual([
        0, 0,
      ]);

      expect(provider.stats.invalidGrant).toBe(0);
      // Each refresh token was spent once: 2,000 rotations, no more. A refresh cut off by the SIGKILL is retried
      // with the same token and answered from the provider's grace window, at most once per in-flight refresh.
      expect(provider.stats.refreshSuccesses).toBe(count);
      expect(provider.stats.graceReplays).toBeLessThanOrEqual(concurrency);
      await expectNothingLost(store, provider, count);
      const orphanNames = new Set([...held, ...orphaned].map((row) => row.name));
      const recovered = (await store.list()).filter((c) => orphanNames.has(c.name));
      expect(recovered).toHaveLength(orphanNames.size);
      expect(recovered.every((c) => c.lastRefreshAt !== undefined && c.pending === undefined)).toBe(true);
      // The survivors left nothing claimed (a dead worker's claim on a finished connection is harmless: it is
      // void the moment that connection falls due again).
      for (const survivor of survivors) {
        expect(
          await pgFixture.sql(`SELECT name FROM ${schema}.connections WHERE claim_owner LIKE $1`, [
            ownerPattern(survivor),
          ]),
        ).toEqual([]);
      }
    },
  );

  it(
    'on SIGTERM a worker finishes its in-flight refreshes, returns its claims and exits 0',
    { timeout: 120_000 },
    async () => {
      const count = 1_000;
      const { url, store, schema, sim: provider } = await setUp(count);
      home = createFleetHome({ keyHex: KEY_A_HEX, tokenUrl: provider.tokenUrl });
      const fleetHome = home;
      workers = [1, 2].map(() => startWorker(fleetHome, url, { concurrency: 8, args: RUN_ARGS }));
      const [leaving, staying] = workers as [WorkerProcess, WorkerProcess];

      await waitUntil(async () => (await progress(schema)).refreshed >= count / 4, {
        timeoutMs: 30_000,
        describe: () => `a quarter refreshed; log: ${leaving.stderr().slice(-500)}`,
      });
      expect(await leaving.terminate(), leaving.stderr().slice(-1500)).toBe(0);
      const left = await pgFixture.sql(
        `SELECT name FROM ${schema}.connections WHERE claim_owner LIKE $1 OR pending_owner LIKE $1`,
        [ownerPattern(leaving)],
      );
      expect(left).toEqual([]);
      expect(
        await pgFixture.sql(`SELECT owner FROM ${schema}.workers WHERE owner LIKE $1`, [
          ownerPattern(leaving),
        ]),
      ).toEqual([]);

      await waitUntil(async () => (await progress(schema)).unfinished === 0, {
        timeoutMs: 40_000,
        describe: () => `all refreshed; log: ${staying.stderr().slice(-800)}`,
      });
      expect(await staying.terminate(), staying.stderr().slice(-1500)).toBe(0);
      expect(provider.stats.invalidGrant).toBe(0);
      expect(provider.stats.graceReplays).toBe(0);
      expect(provider.stats.refreshSuccesses).toBe(count);
      await expectNothingLost(store, provider, count);
    },
  );

  it(
    'keeps every user under the provider’s hourly limit across all workers',
    { timeout: 120_000 },
    async () => {
      const count = 20;
      const perHour = 3;
      // Access tokens that live 1 s are always due: without the limit the fleet would refresh them nonstop.
      const {
        url,
        store,
        schema,
        sim: provider,
      } = await setUp(count, {
        rateLimitPerHour: perHour,
        accessTokenLifetimeSeconds: 1,
        latencyMs: 5,
      });
      const startHour = Math.floor(Date.now() / HOUR);
      home = createFleetHome({
        keyHex: KEY_A_HEX,
        tokenUrl: provider.tokenUrl,
        config: { refresh: { maxAttempts: 1 } },
        env: { TOKENKEEPER_RATE_LIMITS: `fitbit=${perHour}/h` },
      });
      const fleetHome = home;
      workers = [1, 2, 3].map(() => startWorker(fleetHome, url, { concurrency: 4, args: RUN_ARGS }));
      const windowEnd = (startHour + 1) * HOUR;
      // Done when every connection has used its budget and was postponed to the end of the hour.
      await waitUntil(
        async () =>
          (
            await pgFixture.sql(
              `SELECT 1 FROM ${schema}.connections WHERE next_refresh_at < $1 OR claim_owner IS NOT NULL LIMIT 1`,
              [windowEnd],
            )
          ).length === 0,
        { timeoutMs: 30_000, describe: () => `all postponed; log: ${workers[0]?.stderr().slice(-800)}` },
      );
      const exits = await Promise.all(workers.map((worker) => worker.terminate()));
      expect(exits, workers.map((worker) => worker.stderr().slice(-800)).join('\n')).toEqual([0, 0, 0]);
      expect(provider.stats.rateLimited).toBe(0);
      if (Math.floor(Date.now() / HOUR) === startHour) {
        expect(provider.stats.refreshSuccesses).toBe(count * perHour);
      }
      await expectNothingLost(store, provider, count);
    },
  );
});
