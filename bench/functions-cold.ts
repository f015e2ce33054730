/**
 * The Functions app's cold start: Node importing the deployed entry (azure-app/dist/main.mjs, built fresh by
 * scripts/build-azure.mjs and deployed with its chunks next to a stand-in for the worker's module), against
 * `node -e 0`, interleaved. The entry only registers the functions, so the rest of the start moves to the first
 * invocation: that is measured too, in fresh processes against a fake Key Vault, Azurite and a simulated Fitbit
 * (test/azure/harness.ts), as the first timer run and the first HTTP status call after a cold import, each next to
 * the same invocation repeated warm in that process (the vault round trips alone).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildAzureApp, deployApp } from '../test/azure/deployed-app.ts';
import { startAzureWorld } from '../test/azure/harness.ts';
import { BENCH_KEY, makeHome, removeHome } from './fixtures.ts';
import {
  measureInterleaved,
  progress,
  ratioOf,
  summarize,
  type BenchResult,
  type Measurement,
  type Ratio,
} from './stats.ts';

export interface FunctionsColdOptions {
  /** Timed rounds of the cold import (each: one `node -e 0`, one import of the entry). */
  runs?: number;
  warmup?: number;
  /** Fresh processes per function for the first-invocation figures. */
  invocationRuns?: number;
}

// Imports the entry, then calls one registered function twice (cold, then warm); prints the times in ms.
const invoker = `
const [entry, name] = process.argv.slice(2);
const started = performance.now();
await import(entry);
const imported = performance.now();
const fn = globalThis.__registered.find((entry) => entry.metadata.name === name);
const context = { log() {}, warn() {}, error() {} };
const now = new Date().toISOString();
const trigger = name === 'tokenkeeper'
  ? { params: { action: 'status' }, url: 'http://127.0.0.1/api/tokenkeeper/status', headers: new Headers() }
  : { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: now, next: now, lastUpdated: now } };
const invoke = async () => {
  const t = performance.now();
  const result = await fn.handler(trigger, context);
  if (name === 'tokenkeeper' && result.status !== 200) throw new Error('status answered ' + result.status);
  return performance.now() - t;
};
const first = await invoke();
const warm = await invoke();
process.stdout.write(JSON.stringify({ importMs: imported - started, first, warm }));
process.exit(0);
`;

export async function benchFunctionsCold(options: FunctionsColdOptions = {}): Promise<BenchResult> {
  const runs = options.runs ?? 21;
  const warmup = options.warmup ?? 2;
  const invocationRuns = options.invocationRuns ?? 5;
  const scope = 'functions';
  const dir = makeHome('functions');
  try {
    progress(scope, 'building azure-app/dist (scripts/build-azure.mjs)');
    buildAzureApp();
    const app = deployApp(dir);

    // The entry checks its settings at import: a throwaway key and a vault it never reaches.
    const env = {
      ...process.env,
      TOKENKEEPER_KEYVAULT: 'bench-only',
      TOKENKEEPER_KEY: BENCH_KEY,
      FUNCTIONS_WORKER_RUNTIME: 'node',
    };
    const spawnOk = (args: string[]) => async () => {
      await promisify(execFile)(process.execPath, args, { env, cwd: dir });
    };
    const nodeLabel = 'node -e 0';
    const importLabel = 'node: import dist/main.mjs';
    progress(scope, `${warmup} warm-up + ${runs} timed runs of: ${nodeLabel}, ${importLabel}`);
    const { samples } = await measureInterleaved(
      [
        spawnOk(['-e', '0']),
        spawnOk(['--input-type=module', '-e', `await import(${JSON.stringify(app.entry)})`]),
      ],
      {
        warmup,
        rounds: runs,
        progressEvery: 10,
        onProgress: (done) => progress(scope, `${done}/${runs} runs`),
      },
    );
    const baseline = summarize(samples[0] ?? []);
    const cold = summarize(samples[1] ?? []);
    const measurements: Measurement[] = [
      { label: nodeLabel, role: 'baseline', summary: baseline },
      { label: importLabel, role: 'subject', summary: cold, comparedWith: nodeLabel },
    ];
    const ratios: Ratio[] = [ratioOf(importLabel, cold, baseline)];
    const derived: Record<string, number> = {
      'cold import minus node -e 0 (median ms)': cold.median - baseline.median,
    };

    progress(scope, `first invocations: ${invocationRuns} fresh processes per function against a fake vault`);
    const world = await startAzureWorld();
    const home = makeHome('functions-world');
    try {
      const configPath = join(home, 'tokenkeeper.json');
      writeFileSync(configPath, JSON.stringify(world.config));
      writeFileSync(join(dir, 'invoke.mjs'), invoker);
      world.seedLikeCSharp();
      const worldEnv = {
        ...world.childEnv,
        TOKENKEEPER_STORE: world.storeSpec,
        TOKENKEEPER_CONFIG: configPath,
      };
      for (const [name, label] of [
        ['tokenkeeperRefresh', 'timer'],
        ['tokenkeeper', 'http status'],
      ] as const) {
        const firsts: number[] = [];
        const warms: number[] = [];
        for (let round = 0; round < invocationRuns; round++) {
          // Asynchronous: the child talks to the fake vault and Azurite served by this very process.
          const { stdout } = await promisify(execFile)(
            process.execPath,
            [join(dir, 'invoke.mjs'), app.entry, name],
            { env: worldEnv, cwd: dir, encoding: 'utf8', timeout: 60_000 },
          );
          const { first, warm } = JSON.parse(stdout) as { first: number; warm: number };
          firsts.push(first);
          warms.push(warm);
        }
        const firstLabel = `first ${label} after a cold import`;
        const warmLabel = `same ${label} again (warm)`;
        const firstSummary = summarize(firsts);
        const warmSummary = summarize(warms);
        measurements.push(
          { label: warmLabel, role: 'baseline', summary: warmSummary },
          { label: firstLabel, role: 'subject', summary: firstSummary, comparedWith: warmLabel },
        );
        ratios.push(ratioOf(firstLabel, firstSummary, warmSummary));
        derived[`first ${label} minus warm (median ms): lazy chunks + keeper start`] =
          firstSummary.median - warmSummary.median;
      }
    } finally {
      await world.close();
      removeHome(home);
    }
    const ms = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(0)} ms`;
    return {
      id: 'functions-cold',
      title: 'Functions cold start',
      measurements,
      ratios,
      derived,
      notes: [
        `cold import of dist/main.mjs: ${(cold.median / baseline.median).toFixed(2)}x node -e 0, ${ms(cold.median - baseline.median)} (medians)`,
        ...Object.entries(derived)
          .filter(([key]) => key.startsWith('first '))
          .map(([key, value]) => `${key.replace(' (median ms)', '')}: ${ms(value)}`),
        'the entry registers the functions only; the keeper, the Azure SDKs and the config schema load on the first invocation (the "first … minus warm" figures)',
      ],
    };
  } finally {
    removeHome(dir);
  }
}
