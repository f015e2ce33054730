/**
 * `npm run bench`: runs every benchmark, prints a table of medians, p95s and ratios against baselines measured in
 * the same run, and writes the figures to test-artifacts/bench.json. Nothing here asserts on times.
 *
 * `npm run bench -- --quick` runs far fewer rounds (a smoke test of the benchmarks themselves).
 * `npm run bench -- refresh store` runs only the named benchmarks (refresh, cli, store, functions).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchCliStartup } from './cli-startup.ts';
import { repoRoot } from './fixtures.ts';
import { benchFunctionsCold } from './functions-cold.ts';
import { benchRefreshOverhead } from './refresh-overhead.ts';
import { progress, resultsTable, type BenchResult } from './stats.ts';
import { benchStoreOpen } from './store-open.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((arg) => !arg.startsWith('--'));

const benchmarks: Array<{ key: string; run: () => Promise<BenchResult> }> = [
  {
    key: 'refresh',
    run: () => benchRefreshOverhead(quick ? { rounds: 20, warmup: 3 } : {}),
  },
  { key: 'cli', run: () => benchCliStartup(quick ? { runs: 3, warmup: 1 } : {}) },
  { key: 'store', run: () => benchStoreOpen(quick ? { rounds: 20, warmup: 3 } : {}) },
  {
    key: 'functions',
    run: () => benchFunctionsCold(quick ? { runs: 5, warmup: 1, invocationRuns: 2 } : {}),
  },
];

const unknown = only.filter((key) => !benchmarks.some((bench) => bench.key === key));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark ${unknown.join(', ')}: choose from ${benchmarks.map((b) => b.key).join(', ')}\n`,
  );
  process.exit(2);
}

const machine = {
  node: process.version,
  platform: `${platform()} ${release()}`,
  arch: process.arch,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  tmpdir: tmpdir(),
};
progress(
  'run',
  `node ${machine.node} on ${machine.platform} (${machine.arch}, ${machine.cpus} × ${machine.cpuModel})${quick ? ' — quick mode' : ''}`,
);

const started = performance.now();
const results: BenchResult[] = [];
const failures: Array<{ key: string; error: string }> = [];
for (const bench of benchmarks) {
  if (only.length > 0 && !only.includes(bench.key)) continue;
  const benchStarted = performance.now();
  progress('run', `${bench.key}: starting`);
  try {
    results.push(await bench.run());
    progress('run', `${bench.key}: finished in ${((performance.now() - benchStarted) / 1000).toFixed(1)} s`);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    failures.push({ key: bench.key, error: message });
    progress('run', `${bench.key}: FAILED: ${message}`);
  }
}
const totalSeconds = (performance.now() - started) / 1000;

const lines = [
  '',
  `tokenkeeper benchmarks — node ${machine.node}, ${machine.platform}, ${machine.cpus} CPUs${quick ? ' (quick mode: few rounds, figures are rough)' : ''}`,
  'Times in ms per operation; ratios are subject / baseline, both measured interleaved in this run.',
  '',
  resultsTable(results),
];
const notes = results.flatMap((result) => result.notes.map((note) => `${result.title}: ${note}`));
if (notes.length > 0) lines.push('', 'Notes:', ...notes.map((note) => `  - ${note}`));
if (failures.length > 0) lines.push('', 'Failed:', ...failures.map((failure) => `  - ${failure.key}`));
lines.push('', `Total ${totalSeconds.toFixed(1)} s.`);

const artifactDir = join(repoRoot, 'test-artifacts');
const artifact = join(artifactDir, 'bench.json');
mkdirSync(artifactDir, { recursive: true });
writeFileSync(
  artifact,
  `${JSON.stringify({ generatedAt: new Date().toISOString(), quick, machine, totalSeconds, results, failures }, null, 2)}\n`,
);
lines.push(`Results written to ${artifact}`, '');
process.stdout.write(lines.join('\n'));
process.exitCode = failures.length > 0 ? 1 : 0;
