/**
 * `tokenkeeper token <name>` on a fresh process (CLI cold start): the connection holds a valid access token, so the
 * command only starts Node, loads the CLI, opens the store, decrypts and prints. Baseline: `node -e 0`, the cost
 * of starting Node at all. Both run with process.execPath, interleaved.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createKeeper } from '../src/keeper.ts';
import { benchEnv, freshTokens, makeHome, removeHome, repoRoot } from './fixtures.ts';
import {
  measureInterleaved,
  progress,
  ratioOf,
  summarize,
  type BenchResult,
  type Measurement,
  type Ratio,
} from './stats.ts';

export interface CliBenchOptions {
  runs?: number;
  warmup?: number;
}

const CONNECTION = 'bench-cli';

export async function benchCliStartup(options: CliBenchOptions = {}): Promise<BenchResult> {
  const runs = options.runs ?? 15;
  const warmup = options.warmup ?? 2;
  const scope = 'cli';
  const home = makeHome('cli');
  try {
    const env = benchEnv(home);
    const accessToken = 'bench-access-token-0123456789abcdef';
    const keeper = await createKeeper({ env, config: { dataDir: home } });
    try {
      await keeper.addConnection({
        name: CONNECTION,
        provider: 'fitbit',
        clientId: 'bench-client',
        clientSecret: 'bench-secret',
        tokens: freshTokens(accessToken, 'bench-refresh-token-0123456789abcdef'),
      });
    } finally {
      await keeper.close();
    }

    // cwd is the temp home, so no ./tokenkeeper.json of the caller is picked up.
    const run = (args: string[], expectedOutput: string) => () => {
      const child = spawnSync(process.execPath, args, { cwd: home, env, encoding: 'utf8' });
      if (child.status !== 0 || child.stdout !== expectedOutput) {
        throw new Error(
          `\`node ${args.join(' ')}\` exited with ${child.status ?? child.signal}: stdout ${JSON.stringify(child.stdout)}, stderr ${JSON.stringify(child.stderr.slice(0, 500))}`,
        );
      }
    };
    const nodeLabel = 'node -e 0';
    const sourceLabel = 'node src/cli/main.ts token';
    const binLabel = 'node dist/cli/main.js token (compiled)';
    const operations = [
      run(['-e', '0'], ''),
      run([join(repoRoot, 'src', 'cli', 'main.ts'), 'token', CONNECTION], `${accessToken}\n`),
    ];
    const labels = [nodeLabel, sourceLabel];
    const notes: string[] = [];
    if (existsSync(join(repoRoot, 'dist', 'cli', 'main.js'))) {
      operations.push(
        run([join(repoRoot, 'dist', 'cli', 'main.js'), 'token', CONNECTION], `${accessToken}\n`),
      );
      labels.push(binLabel);
    } else {
      notes.push(
        'no dist/ build: `node dist/cli/main.js token` (compiled CLI) skipped; run `npm run build` to include it',
      );
    }

    progress(scope, `${warmup} warm-up + ${runs} timed runs of: ${labels.join(', ')}`);
    const { samples } = await measureInterleaved(operations, {
      warmup,
      rounds: runs,
      progressEvery: 5,
      onProgress: (done) => progress(scope, `${done}/${runs} runs`),
    });
    const summaries = samples.map((values) => summarize(values));
    const baseline = summaries[0] ?? summarize([]);
    const measurements: Measurement[] = [{ label: nodeLabel, role: 'baseline', summary: baseline }];
    const ratios: Ratio[] = [];
    const derived: Record<string, number> = {};
    labels.slice(1).forEach((label, index) => {
      const summary = summaries[index + 1] ?? summarize([]);
      measurements.push({ label, role: 'subject', summary, comparedWith: nodeLabel });
      ratios.push(ratioOf(label, summary, baseline));
      derived[`${label} minus node -e 0 (median ms)`] = summary.median - baseline.median;
    });
    return { id: 'cli-startup', title: 'CLI cold start', measurements, ratios, derived, notes };
  } finally {
    removeHome(home);
  }
}
