import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  startSimulatedFitbit,
  type FitbitSimulatorOptions,
  type SeededGrant,
  type SeedGrantOptions,
  type SimulatedFitbit,
} from '../fakes/index.ts';
import { startCli, type CliProcess, type CliResult } from './run-cli.ts';

/** Every token the simulated Fitbit issues looks like this (fa_… access, fr_… refresh). */
export const SIM_TOKEN_PATTERN = /\bf[ar]_[A-Za-z0-9_-]{20,}/g;

export interface CliCallOptions {
  stdin?: string;
  /** Extra environment variables (merged over the harness environment; undefined removes one). */
  env?: NodeJS.ProcessEnv;
  /** Config file to pass with --config; false passes none. Default: the harness config. */
  config?: string | false;
  logFormat?: 'json' | 'pretty';
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  timeoutMs?: number;
  keepStdinOpen?: boolean;
}

export interface Harness {
  /** TOKENKEEPER_HOME of this test (a fresh temp dir). */
  home: string;
  sim: SimulatedFitbit;
  /** The default config: provider fitbit pointing at the simulator, secret from env:FITBIT_SECRET. */
  configPath: string;
  env: NodeJS.ProcessEnv;
  /** Every finished CLI run of this harness, in order. */
  results: CliResult[];
  /** Every secret seen so far: seeded tokens, the client secret, tokens active at the simulator after each run. */
  secrets: Set<string>;
  cli(args: string[], options?: CliCallOptions): Promise<CliResult>;
  start(args: string[], options?: CliCallOptions): CliProcess;
  /** Write a file next to the home (not in it) and return its path. */
  writeConfig(config: unknown, fileName?: string): string;
  writeText(text: string, fileName: string): string;
  /** Seeds a grant at the simulator and remembers its tokens as secrets. */
  seed(options?: SeedGrantOptions): SeededGrant;
  /** Seeds a grant for `userId` and imports it as connection `name` (refresh token on stdin); expects exit 0. */
  addConnection(name: string, userId?: string): Promise<{ seed: SeededGrant; result: CliResult }>;
  /** Remembers the simulator's current refresh tokens of these users as secrets. */
  snapshotSecrets(): void;
}

export const DEFAULT_USER = 'USER01';

/** Registers work to run after the current test (vitest's `onTestFinished` from the test context). */
export type OnFinished = (fn: () => Promise<void> | void) => void;

export function providerConfig(sim: SimulatedFitbit, extra: Record<string, unknown> = {}) {
  return {
    tokenUrl: sim.tokenUrl,
    authorizationUrl: sim.authorizeUrl,
    revokeUrl: sim.revokeUrl,
    clientId: sim.clientId,
    clientSecret: 'env:FITBIT_SECRET',
    ...extra,
  };
}

/**
 * A fresh TOKENKEEPER_HOME, a simulated Fitbit and a config pointing at it. Everything (CLI processes still
 * running, the simulator, the temp dir) is torn down when the test finishes, so tests may run concurrently.
 */
export async function createHarness(
  onFinished: OnFinished,
  options: { sim?: FitbitSimulatorOptions; config?: Record<string, unknown> } = {},
): Promise<Harness> {
  const sim = await startSimulatedFitbit({
    clientId: `client-${randomBytes(3).toString('hex')}`,
    clientSecret: `cs_${randomBytes(24).toString('base64url')}`,
    userId: DEFAULT_USER,
    ...options.sim,
  });
  // Config and other test files sit next to the home, not in it: tokenkeeper refuses a data dir holding files
  // that are not its own.
  const root = mkdtempSync(join(tmpdir(), 'tokenkeeper-cli-'));
  const home = join(root, 'home');
  mkdirSync(home, { mode: 0o700 }); // as a user's own data dir would be
  const processes = new Set<CliProcess>();
  // One hook, in order: no CLI may still be writing to the home or talking to the simulator when they go.
  onFinished(async () => {
    await Promise.all([...processes].map((cli) => cli.stop()));
    await sim.close();
    rmSync(root, { recursive: true, force: true });
  });
  const users = new Set<string>([DEFAULT_USER]);
  const secrets = new Set<string>();
  if (sim.clientSecret) secrets.add(sim.clientSecret);

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    TOKENKEEPER_HOME: home,
    FITBIT_SECRET: sim.clientSecret,
  };
  const writeText = (text: string, fileName: string) => {
    const path = join(root, fileName);
    writeFileSync(path, text);
    return path;
  };
  const writeConfig = (config: unknown, fileName = 'tokenkeeper.json') =>
    writeText(`${JSON.stringify(config, null, 2)}\n`, fileName);
  const configPath = writeConfig(
    { ...options.config, providers: { fitbit: providerConfig(sim) } },
    'config.json',
  );

  const snapshotSecrets = () => {
    for (const user of users) {
      const token = sim.activeRefreshToken(user);
      if (token) secrets.add(token);
    }
  };
  const argv = (args: string[], call: CliCallOptions) => [
    ...(call.config === false ? [] : ['--config', call.config ?? configPath]),
    '--log-format',
    call.logFormat ?? 'json',
    ...(call.logLevel ? ['--log-level', call.logLevel] : []),
    ...args,
  ];
  const spawnOptions = (call: CliCallOptions) => {
    const merged: NodeJS.ProcessEnv = { ...env, ...call.env };
    for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
    return {
      env: merged,
      cwd: home,
      stdin: call.stdin,
      keepStdinOpen: call.keepStdinOpen,
      timeoutMs: call.timeoutMs,
    };
  };
  const results: CliResult[] = [];
  const record = (result: CliResult) => {
    results.push(result);
    snapshotSecrets();
    return result;
  };
  const harness: Harness = {
    home,
    sim,
    configPath,
    env,
    results,
    secrets,
    writeConfig,
    writeText,
    snapshotSecrets,
    cli: (args, call = {}) => harness.start(args, call).done,
    start(args, call = {}) {
      const started = startCli(argv(args, call), spawnOptions(call));
      processes.add(started);
      // Registered before any caller's own `then`, so results and secrets are recorded before the caller goes on.
      void started.done.then(
        (result) => {
          processes.delete(started);
          record(result);
        },
        () => processes.delete(started),
      );
      return started;
    },
    seed(seedOptions = {}) {
      const seeded = sim.seedGrant(seedOptions);
      users.add(seeded.userId);
      secrets.add(seeded.accessToken).add(seeded.refreshToken);
      return seeded;
    },
    async addConnection(name, userId = DEFAULT_USER) {
      const seed = harness.seed({ userId });
      const result = await harness.cli(['add', name, '--provider', 'fitbit', '--refresh-token', '-'], {
        stdin: `${seed.refreshToken}\n`,
      });
      expectSuccess(result);
      return { seed, result };
    },
  };
  return harness;
}

/** Runs the CLI with a clean environment and its own TOKENKEEPER_HOME, no simulator and no config. */
export function runIsolated(args: string[], onFinished: OnFinished, timeoutMs?: number): Promise<CliResult> {
  const home = tempHome(onFinished);
  const cli = startCli(args, {
    env: { PATH: process.env.PATH, HOME: home, TOKENKEEPER_HOME: home },
    cwd: home,
    timeoutMs,
  });
  onFinished(() => cli.stop());
  return cli.done;
}

/** A fresh empty directory, removed when the test finishes. */
export function tempHome(onFinished: OnFinished): string {
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-cli-'));
  onFinished(() => rmSync(home, { recursive: true, force: true }));
  return home;
}

/** Throws with the CLI's output when it did not exit 0, so failures explain themselves. */
export function expectSuccess(result: CliResult): CliResult {
  if (result.code !== 0) {
    throw new Error(
      `tokenkeeper ${result.args.join(' ')} exited ${result.code ?? result.signal}${result.timedOut ? ' (timed out)' : ''}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result;
}

/** The non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

/** Lines of stderr that are not JSON log records (i.e. what the CLI says to a human). */
export function humanLines(text: string): string[] {
  return lines(text).filter((line) => !line.startsWith('{'));
}

/** JSON log records on stderr. */
export function logRecords(text: string): Array<Record<string, unknown>> {
  return lines(text)
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export interface StatusJson {
  name: string;
  provider: string;
  account: string | null;
  status: string;
  scope: string | null;
  expiresAt: string | null;
  refreshTokenExpiresAt: string | null;
  expiringSoon: boolean;
  successor: string | null;
  lastRefreshAt: string | null;
  nextRefreshAt: string | null;
  lastError: string | null;
  failureCount: number;
  refreshInProgress: boolean;
  createdAt: string | null;
}

export async function statusJson(harness: Harness, options: CliCallOptions = {}): Promise<StatusJson[]> {
  const result = await harness.cli(['status', '--json'], options);
  // status exits 3 when a connection needs a human (6 when one will soon); its JSON is printed all the same.
  if (result.code !== 3 && result.code !== 6) expectSuccess(result);
  return JSON.parse(result.stdout) as StatusJson[];
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The connection's row as stored (every column, ciphertexts included): equal rows mean nothing was written. */
export function storedRow(h: Harness, name: string): Record<string, unknown> | undefined {
  const db = new DatabaseSync(join(h.home, 'tokenkeeper.db'), { readOnly: true, timeout: 5_000 });
  try {
    return db.prepare('SELECT * FROM connections WHERE name = ?').get(name) as
      Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}
