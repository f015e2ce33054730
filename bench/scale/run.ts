/**
 * `npm run bench:scale`: a fleet of `tokenkeeper run --store postgres://…` processes refreshing many connections
 * at a fake Fitbit (bench/scale/fake-fitbit.ts: 50 ms latency, single-use refresh tokens, 2-minute grace) on a throwaway PostgreSQL cluster (fsync on).
 *
 *   1. small run  (10,000 connections): baseline worker memory
 *   2. large run  (100,000 connections): throughput as a ratio of workers × concurrency / latency, DB rates,
 *      worker memory (flat if the workers do not scale with the number of connections), 0 double, 0 lost
 *   3. crash run  (100,000 connections, one worker SIGKILLed at 40 %): its claims picked up, nothing lost
 *   4. engine runs (10,000 and 100,000): the same fleet as library workers (createKeeper + runScheduler,
 *      bench/scale/engine-worker.ts), to show the scheduler's memory apart from the CLI's start-up listing
 *
 * Options: --connections N (large runs, default 100000), --small N (default 10000), --workers N (4),
 * --concurrency N (16), --latency MS (50), --heap-mb N (workers' --max-old-space-size; default V8's),
 * --only small,large,crash,engine, --quick (2,000 / 10,000 connections), --cpu-prof-dir DIR (the workers write
 * V8 CPU profiles there as they exit, for Chrome DevTools or `node --cpu-prof` tooling).
 * Results: printed, and written to test-artifacts/bench-scale.json. Nothing here asserts on times.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../fixtures.ts';
import { startCluster } from '../../test/postgres/cluster.ts';
import { runScenario, type ScenarioResult } from './scenario.ts';

const args = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  if (index === -1) return fallback;
  const value = Number(args[index + 1]);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`--${name} needs a positive whole number\n`);
    process.exit(2);
  }
  return value;
}
const quick = args.includes('--quick');
const large = option('connections', quick ? 10_000 : 100_000);
const small = option('small', quick ? 2_000 : 10_000);
const workers = option('workers', 4);
const concurrency = option('concurrency', 16);
const latencyMs = option('latency', 50);
const heapIndex = args.indexOf('--heap-mb');
const heapMb = heapIndex === -1 ? undefined : option('heap-mb', 0);
const cpuProfIndex = args.indexOf('--cpu-prof-dir');
const cpuProfDir = cpuProfIndex === -1 ? undefined : args[cpuProfIndex + 1];
const onlyIndex = args.indexOf('--only');
const only =
  onlyIndex === -1 ? ['small', 'large', 'crash', 'engine'] : (args[onlyIndex + 1] ?? '').split(',');

const log = (message: string) => process.stderr.write(`[bench:scale] ${message}\n`);
const started = Date.now();
log(
  `node ${process.version} on ${platform()} ${release()}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}; ` +
    `${workers} workers × concurrency ${concurrency}, provider latency ${latencyMs} ms`,
);
// Ctrl-C: exit through process.exit so the cluster and the workers are stopped by their exit hooks.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const cluster = await startCluster({
  durable: true,
  settings: { shared_buffers: "'256MB'", max_wal_size: "'2GB'", checkpoint_timeout: "'15min'" },
});
const results: ScenarioResult[] = [];
try {
  const databaseUrl = await cluster.createDatabase('tokenkeeper_bench');
  const plan = [
    { key: 'small', label: `small-${small / 1000}k`, connections: small },
    { key: 'large', label: `large-${large / 1000}k`, connections: large },
    { key: 'crash', label: `crash-${large / 1000}k`, connections: large, killAt: 0.4 },
    { key: 'engine', label: `engine-${small / 1000}k`, connections: small, engine: 'engine' as const },
    { key: 'engine', label: `engine-${large / 1000}k`, connections: large, engine: 'engine' as const },
  ].filter((scenario) => only.includes(scenario.key));
  for (const scenario of plan) {
    log(`${scenario.label}: starting`);
    const result = await runScenario({
      ...scenario,
      workers,
      concurrency,
      latencyMs,
      heapMb,
      cpuProfDir,
      cluster,
      databaseUrl,
      log,
    });
    results.push(result);
    log(
      `${scenario.label}: ${result.refreshesPerSecond.toFixed(0)} refreshes/s (${(result.ratioOfLimit * 100).toFixed(1)} % of the ${result.limitPerSecond.toFixed(0)}/s limit), ${result.doubleRefreshes} double, ${result.lost} lost`,
    );
  }
} finally {
  await cluster.stop();
}

const mib = (values: number[]) => values.map((v) => v.toFixed(0)).join(' / ');
const lines = [
  '',
  `tokenkeeper fleet benchmark — ${workers} worker processes × concurrency ${concurrency}, provider latency ${latencyMs} ms, PostgreSQL 15 (fsync on), ${cpus().length} CPUs`,
  '',
  'run           connections  refreshed/s  ratio of limit  double  lost  grace replays  DB commits/s  DB rows written/s  DB rows read/s  commits/refresh  WAL syncs/refresh',
  ...results.map((r) =>
    [
      r.label.padEnd(12),
      r.connections.toLocaleString('en').padStart(12),
      r.refreshesPerSecond.toFixed(0).padStart(12),
      `${r.ratioOfLimit.toFixed(3)} (${r.limitPerSecond.toFixed(0)}/s)`.padStart(15),
      String(r.doubleRefreshes).padStart(7),
      String(r.lost).padStart(5),
      String(r.provider.graceReplays).padStart(14),
      r.db.commitsPerSecond.toFixed(0).padStart(13),
      r.db.rowsWrittenPerSecond.toFixed(0).padStart(18),
      r.db.rowsReadPerSecond.toFixed(0).padStart(15),
      r.db.commitsPerRefresh.toFixed(2).padStart(16),
      r.db.walSyncsPerRefresh.toFixed(2).padStart(18),
    ].join(' '),
  ),
  '  commits/refresh: pg_stat_database.xact_commit delta ÷ provider rotations (every transaction, read-only ones too);',
  '  WAL syncs/refresh: pg_stat_wal.wal_sync delta ÷ rotations (fsyncs of the WAL, after group commit).',
  '',
  'Worker CPU from the first to the last refresh, ms per refresh (CPU ms / refreshes answered to it), one figure per worker:',
  ...results.map(
    (r) =>
      `  ${r.label.padEnd(12)} ${r.cpu.map((c) => c.msPerRefresh.toFixed(2)).join(' / ')} ms` +
      `  (${r.cpu.map((c) => `${(c.cpuMs / 1000).toFixed(1)} s / ${c.refreshes.toLocaleString('en')}`).join(', ')})`,
  ),
  '',
  `Worker memory in MiB, one figure per worker${heapMb ? ` (workers run with --max-old-space-size=${heapMb})` : ' (V8 default heap limit)'}:`,
  '  RSS after the first refresh / half-way / end / peak; live JS heap after a full GC at half-way / end / max',
  ...results.map(
    (r) =>
      `  ${r.label.padEnd(12)} RSS ${mib(r.memory.map((m) => m.startMiB))}; ${mib(r.memory.map((m) => m.halfMiB))}; ${mib(r.memory.map((m) => m.endMiB))}; ${mib(r.memory.map((m) => m.peakMiB))}` +
      ` | live ${mib(r.memory.map((m) => m.liveHalfMiB))}; ${mib(r.memory.map((m) => m.liveEndMiB))}; ${mib(r.memory.map((m) => m.liveMaxMiB))}`,
  ),
];
for (const [smallRun, largeRun] of [
  [results.find((r) => r.label.startsWith('small')), results.find((r) => r.label.startsWith('large'))],
  [
    results.find((r) => r.label === `engine-${small / 1000}k`),
    results.find((r) => r.label === `engine-${large / 1000}k`),
  ],
]) {
  if (!smallRun || !largeRun) continue;
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const ratio = (pick: (m: ScenarioResult['memory'][number]) => number) =>
    (median(largeRun.memory.map(pick)) / median(smallRun.memory.map(pick))).toFixed(2);
  lines.push(
    `  ${largeRun.label} / ${smallRun.label} (${(largeRun.connections / smallRun.connections).toFixed(0)}× the connections): ` +
      `peak RSS ×${ratio((m) => m.peakMiB)}, end RSS ×${ratio((m) => m.endMiB)}, max live heap ×${ratio((m) => m.liveMaxMiB)}`,
  );
}
for (const r of results.filter((result) => result.kill)) {
  const k = r.kill!;
  lines.push(
    '',
    `${r.label}: worker SIGKILLed at ${k.atRefreshed.toLocaleString('en')} refreshed, holding ${k.orphanedClaims} claims (${k.orphanedWriteAheads} mid-refresh); ` +
      `${k.orphansRefreshed}/${k.orphanedClaims} of them refreshed by the others; ${r.provider.graceReplays} grace replays (recovery of cut-off refreshes), ` +
      `${r.provider.invalidGrant} invalid_grant (${k.lateRecoveries} of them cut-off refreshes retried after the grace window), ${r.lost} lost; survivors exited ${r.exitCodes.slice(1).join(', ')}`,
  );
}
lines.push('', `Total ${((Date.now() - started) / 1000).toFixed(0)} s.`);
const artifactDir = join(repoRoot, 'test-artifacts');
mkdirSync(artifactDir, { recursive: true });
const artifact = join(artifactDir, 'bench-scale.json');
writeFileSync(
  artifact,
  `${JSON.stringify({ generatedAt: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2)}\n`,
);
lines.push(`Results written to ${artifact}`, '');
process.stdout.write(lines.join('\n'));
const failed = results.some((r) => r.lost > 0 || r.doubleRefreshes > 0 || r.provider.invalidGrant > 0);
process.exitCode = failed ? 1 : 0;
