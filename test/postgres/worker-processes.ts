/**
 * Real `tokenkeeper run --store postgres://…` processes for the fleet tests and `npm run bench:scale`: the CLI
 * entry point on this Node (which runs the TypeScript directly), a temp home, a fixed key, a config pointing the
 * fitbit provider at a simulated token endpoint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliEntry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const MAX_LOG = 64 * 1024;

export interface FleetHome {
  dir: string;
  configPath: string;
  env: NodeJS.ProcessEnv;
  remove(): void;
}

/** A data dir and config for worker processes; `config` is merged into the generated tokenkeeper.json. */
export function createFleetHome(options: {
  keyHex: string;
  tokenUrl: string;
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}): FleetHome {
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-fleet-'));
  const configPath = join(dir, 'tokenkeeper.json');
  writeFileSync(
    configPath,
    JSON.stringify({ providers: { fitbit: { tokenUrl: options.tokenUrl } }, ...options.config }, null, 2),
    { mode: 0o600 },
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TOKENKEEPER_') && !name.startsWith('PG')) env[name] = value;
  }
  Object.assign(env, {
    TOKENKEEPER_HOME: dir,
    TOKENKEEPER_KEY: options.keyHex,
    TOKENKEEPER_LOG_LEVEL: 'warn',
    ...options.env,
  });
  return { dir, configPath, env, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last 64 KiB of stderr (JSON log lines). */
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** SIGKILL if still running, then wait. */
  kill(): Promise<number | string>;
  /** SIGTERM (graceful: finish in-flight refreshes), then wait. */
  terminate(): Promise<number | string>;
}

export function startWorker(
  home: FleetHome,
  storeUrl: string,
  options: {
    concurrency: number;
    args?: string[];
    /** Node flags for the worker (e.g. --trace-gc, --max-old-space-size). */
    execArgv?: string[];
    /** Another script and its arguments instead of `tokenkeeper run` (e.g. a library-mode worker). */
    command?: string[];
    /** Receives the worker's stdout (only --trace-gc writes there; the CLI logs to stderr). */
    onStdout?: (chunk: string) => void;
  },
): WorkerProcess {
  const command = options.command ?? [
    cliEntry,
    '--config',
    home.configPath,
    '--store',
    storeUrl,
    'run',
    '--concurrency',
    String(options.concurrency),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, [...(options.execArgv ?? []), ...command], {
    env: home.env,
    stdio: ['ignore', options.onStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  if (options.onStdout) child.stdout?.setEncoding('utf8').on('data', options.onStdout);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-MAX_LOG);
  });
  // A worker must not outlive the test or benchmark that started it, even when that one dies first.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid: child.pid as number,
    stderr: () => stderr,
    exited,
    kill: () => {
      if (running()) child.kill('SIGKILL');
      return exited;
    },
    terminate: () => {
      if (running()) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Resident set size of a process in bytes (Linux /proc), or undefined once it has exited. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Polls `check` every `everyMs` until it returns true; throws with `describe()` after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  options: { timeoutMs: number; everyMs?: number; describe: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${options.describe()}`);
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 50));
  }
}
