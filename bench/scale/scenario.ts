/**
 * One fleet run: N due connections at a fake Fitbit (single-use refresh tokens, fixed latency), W real
 * `tokenkeeper run --store postgres://…` processes, optionally one SIGKILLed mid-run. Measures time, provider
 * calls, PostgreSQL counters and worker RSS, then checks every connection against the provider.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../fixtures.ts';
import pg from 'pg';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';
import type { PgCluster } from '../../test/postgres/cluster.ts';
import { connectionNameOf, seedDueConnections, userIdOf } from '../../test/postgres/seed.ts';
import { KEY_A_HEX, keyring } from '../../test/postgres/keys.ts';
import {
  createFleetHome,
  rssBytes,
  startWorker,
  type WorkerProcess,
} from '../../test/postgres/worker-processes.ts';
import { dbSnapshot, perRefresh, perSecond } from './db-stats.ts';
import { cpuMs } from './process-cpu.ts';
import { startFakeFitbit } from './fake-fitbit.ts';

export interface ScenarioOptions {
  label: string;
  connections: number;
  workers: number;
  concurrency: number;
  latencyMs: number;
  /** SIGKILL the first worker once this fraction of connections is refreshed. */
  killAt?: number;
  /**
   * 'cli': `tokenkeeper run` processes (default); 'engine': bench/scale/engine-worker.ts, the same scheduler and
   * store as a library user runs them, without the CLI's start-up listing and HTTP services.
   */
  engine?: 'cli' | 'engine';
  /** --max-old-space-size for the workers (MiB); undefined keeps V8's default. */
  heapMb?: number;
  /** Where the workers write V8 CPU profiles (--cpu-prof) as they exit; undefined: no profiling. */
  cpuProfDir?: string;
  cluster: PgCluster;
  databaseUrl: string;
  log: (message: string) => void;
}

export interface WorkerMemory {
  pid: number;
  /** RSS once the worker has settled (first refresh seen), at half-way, at the end, and the peak (MiB). */
  startMiB: number;
  halfMiB: number;
  endMiB: number;
  peakMiB: number;
  /** Live JS heap after the last full GC before half-way and at the end, and the largest seen (MiB, --trace-gc). */
  liveHalfMiB: number;
  liveEndMiB: number;
  liveMaxMiB: number;
}

export interface WorkerCpu {
  pid: number;
  cpuMs: number;
  refreshes: number;
  /** cpuMs ÷ refreshes. */
  msPerRefresh: number;
}

export interface ScenarioResult {
  label: string;
  engine: 'cli' | 'engine';
  connections: number;
  workers: number;
  concurrency: number;
  latencyMs: number;
  seedSeconds: number;
  /** From starting the worker processes until every connection was saved. */
  wallSeconds: number;
  /** From the first to the last successful provider refresh. */
  refreshSeconds: number;
  refreshesPerSecond: number;
  /** workers × concurrency / latency: what the fleet could do if nothing but the provider's latency counted. */
  limitPerSecond: number;
  ratioOfLimit: number;
  provider: {
    refreshRequests: number;
    refreshSuccesses: number;
    graceReplays: number;
    invalidGrant: number;
    rateLimited: number;
  };
  /**
   * Refresh tokens spent more than once outside crash recovery (invalid_grant + extra rotations), not counting
   * `kill.lateRecoveries`.
   */
  doubleRefreshes: number;
  /** Connections whose stored refresh token is not the provider's current one, or not saved as active. */
  lost: number;
  db: {
    commitsPerSecond: number;
    rowsWrittenPerSecond: number;
    rowsReadPerSecond: number;
    /** pg_stat_database.xact_commit delta ÷ refreshes (every transaction, read-only ones too). */
    commitsPerRefresh: number;
    /** pg_stat_wal.wal_sync delta ÷ refreshes (WAL flushes: durable commits after group commit). */
    walSyncsPerRefresh: number;
  };
  /** Per worker, from the first to the last refresh of the run: CPU used and refreshes answered to it. */
  cpu: WorkerCpu[];
  memory: WorkerMemory[];
  exitCodes: Array<number | string>;
  kill?: {
    atRefreshed: number;
    orphanedClaims: number;
    orphanedWriteAheads: number;
    orphansRefreshed: number;
    /**
     * Connections cut off mid-refresh whose spent refresh token was retried only after the provider's grace
     * window (invalid_grant, so needs_reauth: lost): recovered too late, not refreshed twice.
     */
    lateRecoveries: number;
  };
}

const MiB = 1024 * 1024;
const engineWorker = fileURLToPath(new URL('./engine-worker.ts', import.meta.url));
const logDir = join(repoRoot, 'test-artifacts');

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { log, connections: count } = options;
  const schema = `scale_${options.label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${Date.now() % 100_000}`;
  const url = new URL(options.databaseUrl);
  url.searchParams.set('schema', schema);
  url.searchParams.set('pool', String(Math.max(4, options.concurrency)));
  const storeUrl = url.href;

  const sim = await startFakeFitbit({ latencyMs: options.latencyMs, rateLimitPerHour: 150 });
  const admin = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
  const store = await PostgresStore.open({ spec: storeUrl, keyring: keyring() });
  // One home per worker, each with its own token URL (?worker=i), so the provider counts every worker's refreshes.
  const tokenUrlOf = (worker: number) => `${sim.tokenUrl}?worker=${worker}`;
  const homes = Array.from({ length: options.workers }, (_, i) =>
    createFleetHome({ keyHex: KEY_A_HEX, tokenUrl: tokenUrlOf(i) }),
  );
  const workers: WorkerProcess[] = [];
  try {
    const seedStarted = Date.now();
    let lastSeedLog = 0;
    await seedDueConnections(store, sim, count, {
      onProgress: (done) => {
        if (Date.now() - lastSeedLog > 5_000 || done === count) {
          lastSeedLog = Date.now();
          log(`${options.label}: seeded ${done.toLocaleString('en')}/${count.toLocaleString('en')}`);
        }
      },
    });
    await admin.query(`ANALYZE ${schema}.connections`);
    const seedSeconds = (Date.now() - seedStarted) / 1000;

    const before = await dbSnapshot(admin, schema);
    const started = Date.now();
    const live = new Map<number, { last: number; max: number }>();
    for (let i = 0; i < options.workers; i++) {
      let buffer = '';
      const heap = { last: 0, max: 0 };
      const worker = startWorker(homes[i] as (typeof homes)[number], storeUrl, {
        concurrency: options.concurrency,
        args: ['--no-server'],
        command:
          options.engine === 'engine'
            ? [engineWorker, storeUrl, tokenUrlOf(i), String(options.concurrency)]
            : undefined,
        execArgv: [
          '--trace-gc',
          ...(options.heapMb ? [`--max-old-space-size=${options.heapMb}`] : []),
          ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
        ],
        // "Mark-Compact 184.6 (285.1) -> 48.2 (284.6) MB": 48.2 MB of the heap survived a full collection.
        onStdout: (chunk) => {
          buffer += chunk;
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          for (const line of lines) {
            const after = /Mark-Compact[^>]*-> ([\d.]+) \(/.exec(line)?.[1];
            if (after === undefined) continue;
            heap.last = Number(after);
            heap.max = Math.max(heap.max, heap.last);
          }
        },
      });
      live.set(worker.pid, heap);
      workers.push(worker);
    }
    const memory = new Map<number, WorkerMemory>(
      workers.map((w) => [
        w.pid,
        {
          pid: w.pid,
          startMiB: 0,
          halfMiB: 0,
          endMiB: 0,
          peakMiB: 0,
          liveHalfMiB: 0,
          liveEndMiB: 0,
          liveMaxMiB: 0,
        },
      ]),
    );
    let firstRefreshAt: number | undefined;
    let lastRefreshAt: number | undefined;
    let kill: ScenarioResult['kill'];
    let victim: WorkerProcess | undefined;
    let orphanNames: string[] = [];
    // CPU and refreshes of each worker at the first and the last refresh of the run.
    const cpuWindow = workers.map(() => ({ startMs: 0, startRefreshes: 0, endMs: 0, endRefreshes: 0 }));
    const sampleCpu = (edge: 'start' | 'end') =>
      workers.forEach((worker, i) => {
        const used = cpuMs(worker.pid);
        const window = cpuWindow[i];
        if (used === undefined || !window || worker === victim) return;
        const refreshes = sim.stats.answeredByWorker.get(String(i)) ?? 0;
        if (edge === 'start') Object.assign(window, { startMs: used, startRefreshes: refreshes });
        else Object.assign(window, { endMs: used, endRefreshes: refreshes });
      });
    let lastLog = Date.now();
    let lastLogged = 0;

    for (;;) {
      const done = sim.stats.refreshSuccesses;
      const now = Date.now();
      if (done > 0 && firstRefreshAt === undefined) {
        firstRefreshAt = now;
        sampleCpu('start');
      }
      if (done >= count && lastRefreshAt === undefined) {
        lastRefreshAt = now;
        sampleCpu('end');
      }
      for (const worker of workers) {
        if (worker === victim) continue;
        const rss = rssBytes(worker.pid);
        const entry = memory.get(worker.pid);
        if (rss === undefined || !entry) continue;
        const mib = rss / MiB;
        entry.peakMiB = Math.max(entry.peakMiB, mib);
        if (firstRefreshAt !== undefined && entry.startMiB === 0) entry.startMiB = mib;
        const heap = live.get(worker.pid) ?? { last: 0, max: 0 };
        if (done <= count / 2) {
          entry.halfMiB = mib;
          entry.liveHalfMiB = heap.last;
        }
        entry.endMiB = mib;
        entry.liveEndMiB = heap.last;
        entry.liveMaxMiB = heap.max;
      }
      if (options.killAt !== undefined && !victim && done >= count * options.killAt) {
        victim = workers[0] as WorkerProcess;
        await victim.kill();
        const pattern = `%:${victim.pid}:%`;
        const orphans = await admin.query<{ name: string; pending: boolean }>(
          `SELECT name, pending_attempt_id IS NOT NULL AND pending_owner LIKE $1 AS pending
           FROM ${schema}.connections WHERE claim_owner LIKE $1`,
          [pattern],
        );
        orphanNames = orphans.rows.map((row) => row.name);
        kill = {
          atRefreshed: done,
          orphanedClaims: orphans.rows.length,
          orphanedWriteAheads: orphans.rows.filter((row) => row.pending).length,
          orphansRefreshed: 0,
          lateRecoveries: 0,
        };
        log(
          `${options.label}: SIGKILLed worker pid ${victim.pid} at ${done.toLocaleString('en')} refreshed; it held ${kill.orphanedClaims} claims, ${kill.orphanedWriteAheads} mid-refresh`,
        );
      }
      if (now - lastLog >= 5_000) {
        const rate = ((done - lastLogged) * 1000) / (now - lastLog);
        const rss = [...memory.values()].map((m) => m.endMiB.toFixed(0)).join('/');
        log(
          `${options.label}: ${done.toLocaleString('en')}/${count.toLocaleString('en')} refreshed, ${rate.toFixed(0)}/s, worker RSS ${rss} MiB`,
        );
        lastLog = now;
        lastLogged = done;
      }
      if (lastRefreshAt !== undefined) {
        const unfinished = await admin.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${schema}.connections
           WHERE (last_refresh_at IS NULL AND status NOT IN ('needs_reauth', 'provider_retired'))
              OR pending_attempt_id IS NOT NULL`,
        );
        if (Number(unfinished.rows[0]?.n) === 0) break;
      }
      if (workers.every((w) => w.child.exitCode !== null || w.child.signalCode !== null)) {
        throw new Error(`every worker exited; last log: ${workers.at(-1)?.stderr().slice(-1000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const wallSeconds = (Date.now() - started) / 1000;
    const exitCodes = await Promise.all(workers.map((w) => (w === victim ? w.exited : w.terminate())));
    // The workers' warnings (failed refreshes name their connection), to see why a run lost or doubled one.
    mkdirSync(logDir, { recursive: true });
    workers.forEach((worker, i) =>
      writeFileSync(join(logDir, `bench-scale-${options.label}-worker-${i}.log`), worker.stderr()),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // PostgreSQL publishes counters within ~1 s
    const after = await dbSnapshot(admin, schema);

    log(`${options.label}: verifying ${count.toLocaleString('en')} connections against the provider`);
    const stored = await store.list();
    const indexOf = new Map(Array.from({ length: count }, (_, i) => [connectionNameOf(i), i]));
    let lost = count - stored.length;
    const refreshedNames = new Set<string>();
    for (const connection of stored) {
      const index = indexOf.get(connection.name);
      const current = index === undefined ? undefined : sim.activeRefreshToken(userIdOf(index));
      if (
        connection.status !== 'active' ||
        connection.pending !== undefined ||
        connection.tokens.refreshToken !== current
      ) {
        lost++;
      } else if (connection.lastRefreshAt !== undefined) refreshedNames.add(connection.name);
    }
    if (kill) {
      kill.orphansRefreshed = orphanNames.filter((name) => refreshedNames.has(name)).length;
      kill.lateRecoveries = orphanNames.filter((name) => {
        const index = indexOf.get(name);
        return index !== undefined && sim.stats.lateReplayUsers.has(userIdOf(index));
      }).length;
    }

    const refreshSeconds = ((lastRefreshAt ?? Date.now()) - (firstRefreshAt ?? started)) / 1000;
    const limitPerSecond = (options.workers * options.concurrency * 1000) / options.latencyMs;
    const stats = sim.stats;
    return {
      label: options.label,
      engine: options.engine ?? 'cli',
      connections: count,
      workers: options.workers,
      concurrency: options.concurrency,
      latencyMs: options.latencyMs,
      seedSeconds,
      wallSeconds,
      refreshSeconds,
      refreshesPerSecond: count / refreshSeconds,
      limitPerSecond,
      ratioOfLimit: count / refreshSeconds / limitPerSecond,
      provider: {
        refreshRequests: stats.refreshRequests,
        refreshSuccesses: stats.refreshSuccesses,
        graceReplays: stats.graceReplays,
        invalidGrant: stats.invalidGrant,
        rateLimited: stats.rateLimited,
      },
      doubleRefreshes:
        stats.invalidGrant - (kill?.lateRecoveries ?? 0) + Math.max(0, stats.refreshSuccesses - count),
      lost,
      db: { ...perSecond(before, after, wallSeconds), ...perRefresh(before, after, stats.refreshSuccesses) },
      cpu: workers
        .map((worker, i) => ({ worker, window: cpuWindow[i] }))
        .filter(({ worker, window }) => worker !== victim && window && window.endMs > 0)
        .map(({ worker, window }) => {
          const { startMs, startRefreshes, endMs, endRefreshes } = window as (typeof cpuWindow)[number];
          const refreshes = endRefreshes - startRefreshes;
          return {
            pid: worker.pid,
            cpuMs: endMs - startMs,
            refreshes,
            msPerRefresh: (endMs - startMs) / refreshes,
          };
        }),
      memory: [...memory.values()],
      exitCodes,
      kill,
    };
  } finally {
    await Promise.all(workers.map((w) => w.kill()));
    await store.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
    await sim.close();
    for (const home of homes) home.remove();
  }
}
