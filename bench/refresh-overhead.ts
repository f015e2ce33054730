/**
 * Refresh overhead: a full `keeper.refresh(name, {force: true})` — rescue-journal check, store lock and
 * write-ahead record, token POST to the simulated Fitbit on loopback, durable save and lock release — against a
 * raw `fetch` POST of the same refresh request to the same endpoint. Between the two, `requestToken()` alone
 * (tokenkeeper's HTTP client, no store) shows how the overhead splits.
 *
 * Two provider latencies, each phase interleaved with its own raw baseline: 0 ms (all overhead shows) and 20 ms
 * (real token endpoints answer in 50–300 ms). Stores: the embedded SQLite file (WAL, synchronous=FULL) and, when
 * PostgreSQL is installed, a throwaway durable cluster (fsync and synchronous commits on).
 *
 * Durable commits per refresh are counted from outside, after the timed rounds (so counting costs no time in
 * them): for SQLite the commit records the refreshes appended to the store's write-ahead log; for PostgreSQL how
 * many transaction ids the refreshes were assigned (`pg_current_snapshot()`'s xmax; only a transaction that
 * writes gets one, and each such commit is flushed to the WAL).
 *
 * Each operation refreshes its own simulated Fitbit user and always spends the refresh token it was last issued,
 * so every request is a real single-use rotation answered 200 (no grace replays, no invalid_grant).
 */
import pg from 'pg';
import { createKeeper, type Keeper } from '../src/keeper/keeper.ts';
import { requestToken } from '../src/oauth/token-client.ts';
import { startCluster, postgresInstalled, type PgCluster } from '../test/postgres/cluster.ts';
import { startSimulatedFitbit, type SimulatedFitbit } from '../test/simulator/index.ts';
import { commitsDuring } from '../test/stores/sqlite-wal.ts';
import { benchEnv, freshTokens, makeHome, removeHome } from './fixtures.ts';
import {
  measureInterleaved,
  progress,
  ratioOf,
  summarize,
  type BenchResult,
  type Measurement,
  type Ratio,
} from './stats.ts';

export interface RefreshBenchOptions {
  rounds?: number;
  warmup?: number;
  /** Rounds at 20 ms provider latency (each takes ~50 ms). */
  slowRounds?: number;
  /** Refreshes counted for commits per refresh, per store. */
  countedRefreshes?: number;
}

const CONNECTION = 'bench-fitbit';
const SLOW_LATENCY_MS = 20;

/** A keeper on its own data dir (and store) refreshing one connection of its own simulated user. */
interface BenchKeeper {
  keeper: Keeper;
  /** A forced refresh; false when it did not reach the provider (coalesced), so its sample is dropped. */
  refresh: () => Promise<boolean>;
  close: () => Promise<void>;
}

async function openBenchKeeper(
  fitbit: SimulatedFitbit,
  userId: string,
  store?: string,
): Promise<BenchKeeper> {
  const home = makeHome(`refresh-${userId.toLowerCase()}`);
  const keeper = await createKeeper({
    env: benchEnv(home),
    config: {
      dataDir: home,
      ...(store && { store }),
      providers: {
        fitbit: {
          tokenUrl: fitbit.tokenUrl,
          authorizationUrl: fitbit.authorizeUrl,
          revokeUrl: fitbit.revokeUrl,
          clientId: fitbit.clientId,
        },
      },
    },
  });
  const seeded = fitbit.seedGrant({ userId });
  await keeper.addConnection({
    name: CONNECTION,
    provider: 'fitbit',
    clientId: fitbit.clientId,
    clientSecret: fitbit.clientSecret as string,
    tokens: { ...freshTokens(seeded.accessToken, seeded.refreshToken), providerUserId: seeded.userId },
  });
  let refreshed = 0;
  keeper.onEvent((event) => {
    if (event.type === 'refreshed' && event.name === CONNECTION) refreshed++;
  });
  return {
    keeper,
    refresh: async () => {
      const before = refreshed;
      await keeper.refresh(CONNECTION, { force: true });
      return refreshed > before;
    },
    close: async () => {
      await keeper.close();
      removeHome(home);
    },
  };
}

/** The durable commits `count` refreshes make, per refresh, counted by `commitsOf` (undefined: not countable). */
async function commitsPerRefresh(
  count: number,
  refresh: () => Promise<unknown>,
  commitsOf: (work: () => Promise<unknown>) => Promise<number | undefined>,
): Promise<{ perRefresh: number; counted: number }> {
  let commits = 0;
  let counted = 0;
  for (let done = 0; done < count; done++) {
    const made = await commitsOf(refresh);
    if (made === undefined) continue;
    commits += made;
    counted++;
  }
  return { perRefresh: commits / counted, counted };
}

/** Transactions that wrote on `pool`'s database while `work` ran: the transaction ids assigned meanwhile. */
async function writeTransactionsDuring(pool: pg.Pool, work: () => Promise<unknown>): Promise<number> {
  // Reading the next transaction id assigns none, so the count sees only what `work` wrote.
  const nextXid = async () =>
    Number(
      (await pool.query<{ next: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next'))
        .rows[0]?.next,
    );
  const before = await nextXid();
  await work();
  return (await nextXid()) - before;
}

export async function benchRefreshOverhead(options: RefreshBenchOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 300;
  const warmup = options.warmup ?? 30;
  const slowRounds = options.slowRounds ?? Math.max(10, Math.round(rounds / 3));
  const counted = options.countedRefreshes ?? Math.max(10, Math.round(rounds / 6));
  const scope = 'refresh';
  let latencyMs = 0;
  // No rate limit in the way: ~700 refreshes per user in one run, far over Fitbit's 150/hour.
  const fitbit = await startSimulatedFitbit({
    rateLimitPerHour: 1_000_000_000,
    userId: 'KEEPER',
    latencyMs: () => latencyMs,
  });
  const notes: string[] = [];
  let cluster: PgCluster | undefined;
  let admin: pg.Pool | undefined;
  const keepers: BenchKeeper[] = [];
  try {
    const sqlite = await openBenchKeeper(fitbit, 'KEEPER');
    keepers.push(sqlite);
    let postgres: BenchKeeper | undefined;
    if (postgresInstalled()) {
      cluster = await startCluster({ durable: true });
      const url = await cluster.createDatabase('tokenkeeper_bench');
      admin = new pg.Pool({ connectionString: url, max: 1 });
      postgres = await openBenchKeeper(fitbit, 'KEEPERPG', url);
      keepers.push(postgres);
    } else {
      notes.push('PostgreSQL is not installed: its keeper.refresh and commits were not measured');
    }
    const clientSecret = fitbit.clientSecret as string;

    // Raw baseline: the same request tokenkeeper sends (Basic client auth, form body), body read and parsed.
    let rawRefreshToken = fitbit.seedGrant({ userId: 'RAWFETCH' }).refreshToken;
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(fitbit.clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
    const rawRefresh = async () => {
      const response = await fetch(fitbit.tokenUrl, {
        method: 'POST',
        headers: {
          authorization: basic,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rawRefreshToken }),
      });
      const body = (await response.json()) as { refresh_token?: unknown };
      if (response.status !== 200 || typeof body.refresh_token !== 'string') {
        throw new Error(`raw refresh answered HTTP ${response.status}: ${JSON.stringify(body)}`);
      }
      rawRefreshToken = body.refresh_token;
    };

    // requestToken() alone: tokenkeeper's token client (timeout, bounded body, classification), no store.
    const { keeper } = sqlite;
    const provider = keeper.providers.get('fitbit');
    let clientRefreshToken = fitbit.seedGrant({ userId: 'CLIENTONLY' }).refreshToken;
    const clientRefresh = async () => {
      const response = await requestToken({
        provider,
        clientId: fitbit.clientId,
        clientSecret,
        params: { grant_type: 'refresh_token', refresh_token: clientRefreshToken },
        timeoutMs: keeper.settings.http.timeoutMs,
        maxBodyBytes: keeper.settings.http.maxBodyBytes,
      });
      if (!response.refreshToken) throw new Error('requestToken: no rotated refresh token');
      clientRefreshToken = response.refreshToken;
    };

    const labels = {
      raw: 'raw fetch POST + JSON parse',
      client: 'requestToken() only (no store)',
      sqlite: 'keeper.refresh(force), SQLite',
      postgres: 'keeper.refresh(force), PostgreSQL',
      rawSlow: `raw fetch, provider answers in ${SLOW_LATENCY_MS} ms`,
      sqliteSlow: `keeper.refresh(force), SQLite, provider ${SLOW_LATENCY_MS} ms`,
    };
    const fastOps = [sqlite.refresh, clientRefresh, rawRefresh, ...(postgres ? [postgres.refresh] : [])];
    progress(
      scope,
      `simulated Fitbit at ${fitbit.url}; 0 ms: ${warmup} warm-up + ${rounds} timed rounds of ${fastOps.length} ops`,
    );
    const fast = await measureInterleaved(fastOps, {
      warmup,
      rounds,
      progressEvery: 50,
      onProgress: (done) => progress(scope, `0 ms: ${done}/${rounds} rounds`),
    });

    latencyMs = SLOW_LATENCY_MS;
    const slowWarmup = Math.min(warmup, 5);
    progress(scope, `${SLOW_LATENCY_MS} ms: ${slowWarmup} warm-up + ${slowRounds} timed rounds of 2 ops`);
    const slow = await measureInterleaved([sqlite.refresh, rawRefresh], {
      warmup: slowWarmup,
      rounds: slowRounds,
      progressEvery: 25,
      onProgress: (done) => progress(scope, `${SLOW_LATENCY_MS} ms: ${done}/${slowRounds} rounds`),
    });
    latencyMs = 0;

    progress(scope, `counting durable commits over ${counted} more refreshes per store`);
    const sqliteCommits = await commitsPerRefresh(counted, sqlite.refresh, (work) =>
      commitsDuring(sqlite.keeper.store.location, work),
    );
    notes.push(
      `durable commits per keeper.refresh, SQLite: ${sqliteCommits.perRefresh.toFixed(2)} (commit records appended to the store's write-ahead log, over ${sqliteCommits.counted} refreshes)`,
    );
    const pgPool = admin;
    const postgresCommits =
      postgres && pgPool
        ? await commitsPerRefresh(counted, postgres.refresh, (work) => writeTransactionsDuring(pgPool, work))
        : undefined;
    if (postgresCommits) {
      notes.push(
        `durable commits per keeper.refresh, PostgreSQL: ${postgresCommits.perRefresh.toFixed(2)} (transaction ids assigned, i.e. transactions that wrote, over ${postgresCommits.counted} refreshes; fsync and synchronous_commit on)`,
      );
    }

    const [sqliteSamples = [], clientSamples = [], rawSamples = [], postgresSamples = []] = fast.samples;
    const [sqliteSlowSamples = [], rawSlowSamples = []] = slow.samples;
    const coalesced = (fast.rejected[0] ?? 0) + (fast.rejected[3] ?? 0) + (slow.rejected[0] ?? 0);
    if (coalesced > 0) {
      notes.push(
        `${coalesced} forced keeper refreshes returned without calling the provider (coalesced with the previous refresh); their samples were dropped`,
      );
    }
    const stats = fitbit.stats;
    if (stats.invalidGrant > 0 || stats.graceReplays > 0) {
      notes.push(
        `simulator: ${stats.refreshSuccesses} successful rotations, ${stats.graceReplays} grace replays, ${stats.invalidGrant} invalid_grant`,
      );
    }
    for (const [label, bench] of [
      ['SQLite', sqlite],
      ['PostgreSQL', postgres],
    ] as const) {
      const stored = bench && (await bench.keeper.get(CONNECTION));
      if (bench && stored?.status !== 'active') {
        notes.push(`${label} connection ended in status ${stored?.status ?? 'missing'}`);
      }
    }
    if (fitbit.activeRefreshToken('RAWFETCH') !== rawRefreshToken) {
      notes.push('raw baseline lost track of its rotated refresh token');
    }
    progress(
      scope,
      `done: ${stats.refreshSuccesses} rotations, ${stats.graceReplays} grace replays, ${stats.invalidGrant} invalid_grant`,
    );

    const raw = summarize(rawSamples);
    const rawSlow = summarize(rawSlowSamples);
    const subjects: Array<{ id: string; label: string; samples: number[]; baseline: string }> = [
      { id: 'client', label: labels.client, samples: clientSamples, baseline: labels.raw },
      { id: 'sqlite', label: labels.sqlite, samples: sqliteSamples, baseline: labels.raw },
      ...(postgres
        ? [{ id: 'postgres', label: labels.postgres, samples: postgresSamples, baseline: labels.raw }]
        : []),
      { id: 'sqliteSlow', label: labels.sqliteSlow, samples: sqliteSlowSamples, baseline: labels.rawSlow },
    ];
    const baselines = new Map([
      [labels.raw, raw],
      [labels.rawSlow, rawSlow],
    ]);
    const measurements: Measurement[] = [];
    const ratios: Ratio[] = [];
    const derived: Record<string, number> = {
      sqliteCommitsPerRefresh: sqliteCommits.perRefresh,
      simulatorRefreshSuccesses: stats.refreshSuccesses,
      simulatorGraceReplays: stats.graceReplays,
      simulatorInvalidGrant: stats.invalidGrant,
      coalescedKeeperRefreshes: coalesced,
    };
    if (postgresCommits) derived.postgresCommitsPerRefresh = postgresCommits.perRefresh;
    for (const [label, summary] of baselines) {
      measurements.push({ label, role: 'baseline', summary });
      for (const subject of subjects.filter((candidate) => candidate.baseline === label)) {
        const measured = summarize(subject.samples);
        measurements.push({ label: subject.label, role: 'subject', summary: measured, comparedWith: label });
        ratios.push(ratioOf(subject.label, measured, summary));
        derived[`${subject.id}MinusBaselineMedianMs`] = measured.median - summary.median;
      }
    }
    return { id: 'refresh-overhead', title: 'Refresh overhead', measurements, ratios, derived, notes };
  } finally {
    for (const bench of keepers) await bench.close().catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await fitbit.close();
  }
}
