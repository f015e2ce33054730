/**
 * Shared measurement helpers for `npm run bench`: timing, summaries (median / p95), ratios, progress lines and
 * table printing. Benchmarks never assert on absolute times: every figure is reported next to a baseline measured
 * in the same run, on the same machine, interleaved with it, and compared as a ratio.
 */
import { performance } from 'node:perf_hooks';

/** Summary of a set of samples, all in milliseconds. */
export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  mean: number;
  max: number;
}

/** One measured operation: a subject (what tokenkeeper does) or a baseline (the least the same job can cost). */
export interface Measurement {
  label: string;
  role: 'subject' | 'baseline';
  summary: Summary;
  /** Which baseline this subject is compared with (its label). */
  comparedWith?: string;
}

export interface Ratio {
  label: string;
  /** subject median / baseline median */
  median: number;
  /** subject p95 / baseline p95 */
  p95: number;
}

export interface BenchResult {
  id: string;
  title: string;
  measurements: Measurement[];
  ratios: Ratio[];
  /** Extra figures (e.g. derived per-item costs), by name. */
  derived: Record<string, number>;
  notes: string[];
}

/** Nearest-rank percentile of ascending `sorted` samples (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const total = sorted.reduce((sum, value) => sum + value, 0);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    median: median(sorted),
    p95: percentile(sorted, 95),
    mean: sorted.length > 0 ? total / sorted.length : Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

export function ratioOf(label: string, subject: Summary, baseline: Summary): Ratio {
  return { label, median: subject.median / baseline.median, p95: subject.p95 / baseline.p95 };
}

/** Milliseconds taken by one call of `work` (high-resolution clock). */
export async function timeAsync(work: () => unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export function timeSync(work: () => unknown): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

export interface PairedOptions {
  /** Untimed rounds first (JIT, connection pool, page cache). */
  warmup: number;
  /** Timed rounds: each round runs every operation once. */
  rounds: number;
  /** Called every `progressEvery` rounds with the number done. */
  onProgress?: (done: number) => void;
  progressEvery?: number;
}

/**
 * Runs several operations interleaved, round after round, rotating which goes first, so that drift in machine load
 * hits all of them alike. Returns the samples (ms) of each operation, in the order given. An operation may return
 * `false` to say its sample is not valid (it is then dropped and counted in `rejected`).
 */
export async function measureInterleaved(
  operations: ReadonlyArray<() => unknown>,
  options: PairedOptions,
): Promise<{ samples: number[][]; rejected: number[] }> {
  const samples = operations.map(() => [] as number[]);
  const rejected = operations.map(() => 0);
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    const timed = round >= options.warmup;
    for (let offset = 0; offset < operations.length; offset++) {
      const index = (round + offset) % operations.length;
      const operation = operations[index] as () => unknown;
      const started = performance.now();
      const outcome = await operation();
      const elapsed = performance.now() - started;
      if (!timed) continue;
      if (outcome === false) rejected[index] = (rejected[index] ?? 0) + 1;
      else samples[index]?.push(elapsed);
    }
    const done = round + 1 - options.warmup;
    if (timed && options.onProgress && done % (options.progressEvery ?? 50) === 0) options.onProgress(done);
  }
  return { samples, rejected };
}

/** A progress line on stderr, so stdout keeps only the results. */
export function progress(scope: string, message: string): void {
  process.stderr.write(`[bench:${scope}] ${message}\n`);
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-';
}

/** A plain-text table; `right[i]` right-aligns column i (numbers). */
export function formatTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  right: readonly boolean[],
): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        right[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/**
 * The results table: one line per measurement. Each baseline comes first in its group and the subjects after it
 * show their ratio against it (median ratio / p95 ratio).
 */
export function resultsTable(results: readonly BenchResult[]): string {
  const headers = ['benchmark', 'measurement', 'n', 'median ms', 'p95 ms', 'ratio median / p95'];
  const rows: string[][] = [];
  for (const result of results) {
    result.measurements.forEach((measurement, index) => {
      const ratio = result.ratios.find((candidate) => candidate.label === measurement.label);
      const versus =
        measurement.role === 'baseline'
          ? '1.00x / 1.00x (baseline)'
          : ratio
            ? `${formatRatio(ratio.median)} / ${formatRatio(ratio.p95)}`
            : '';
      rows.push([
        index === 0 ? result.title : '',
        measurement.label,
        String(measurement.summary.n),
        formatMs(measurement.summary.median),
        formatMs(measurement.summary.p95),
        versus,
      ]);
    });
  }
  return formatTable(headers, rows, [false, false, true, true, true, false]);
}
