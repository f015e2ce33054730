/**
 * `tokenkeeper token <name>` on a fresh process (CLI cold start): the connection holds a valid access token, so the
 * command only starts Node, loads the CLI, opens the store, decrypts and prints. Measured as the README installs
 * it (`npm run install-cli` links bin/tokenkeeper onto PATH; the bench runs that same file, or the `tokenkeeper`
 * on PATH when it is this checkout's), and from source (`node src/cli/main.ts`, what the tests run). Baseline:
 * `node -e 0` with the same pinned Node, the cost of starting Node at all. All interleaved. The warm-up runs
 * fill Node's compile cache, as any earlier run of the installed command does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createKeeper } from '../src/keeper/keeper.ts';
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
  let configDir: string | undefined;
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
    const run = (command: string, args: string[], expectedOutput: string) => () => {
      const child = spawnSync(command, args, { cwd: home, env, encoding: 'utf8' });
      if (child.status !== 0 || child.stdout !== expectedOutput) {
        throw new Error(
          `\`${command} ${args.join(' ')}\` exited with ${child.status ?? child.signal}: stdout ${JSON.stringify(child.stdout)}, stderr ${JSON.stringify(child.stderr.slice(0, 500))}`,
        );
      }
    };
    const installed = installedCommand();
    const nodeLabel = 'node -e 0';
    const installedLabel = `${installed.label} token`;
    const sourceLabel = 'node src/cli/main.ts token';
    const operations = [
      run(process.execPath, ['-e', '0'], ''),
      run(installed.command, ['token', CONNECTION], `${accessToken}\n`),
      run(
        process.execPath,
        [join(repoRoot, 'src', 'cli', 'main.ts'), 'token', CONNECTION],
        `${accessToken}\n`,
      ),
    ];
    // With a config file the schema (zod) is loaded to check it: the cost a config adds.
    // Not in the home: the runs' cwd is the home, and a ./tokenkeeper.json there would be every run's config.
    configDir = makeHome('cli-config');
    const configPath = join(configDir, 'tokenkeeper.json');
    writeFileSync(configPath, `${JSON.stringify({ refresh: { marginSeconds: 900 } })}\n`);
    operations.push(
      run(installed.command, ['--config', configPath, 'token', CONNECTION], `${accessToken}\n`),
    );
    const labels = [nodeLabel, installedLabel, sourceLabel, `${installed.label} --config FILE token`];
    const notes = [installed.note];

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
    if (configDir) removeHome(configDir);
  }
}

/** The `tokenkeeper` on PATH if it is this checkout's bin/tokenkeeper (as installed), else that file itself. */
function installedCommand(): { command: string; label: string; note: string } {
  const bin = join(repoRoot, 'bin', 'tokenkeeper');
  if (!existsSync(join(repoRoot, 'dist', 'cli-bundle', 'tokenkeeper.js'))) {
    throw new Error('no dist/cli-bundle/: run `npm run build` (npm ci does) before `npm run bench`');
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'tokenkeeper');
    if (existsSync(candidate) && realpathSync(candidate) === realpathSync(bin)) {
      return { command: candidate, label: 'tokenkeeper', note: `tokenkeeper is ${candidate} -> ${bin}` };
    }
  }
  return {
    command: bin,
    label: 'bin/tokenkeeper',
    note: 'no tokenkeeper of this checkout on PATH: measured bin/tokenkeeper, the file `npm run install-cli` links',
  };
}
