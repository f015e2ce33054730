import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Waiters } from '../support/waiters.ts';

/** The repository root and the CLI entry point, derived from this file's location. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliEntry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/**
 * Node's on-disk compile cache, shared by every CLI the tests start: it cuts a CLI start from ~250 ms to ~100 ms
 * of CPU. It only caches V8 bytecode and does not change behaviour.
 */
const compileCache = join(tmpdir(), 'tokenkeeper-test-compile-cache');

export interface CliResult {
  args: string[];
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process was killed because it ran past its timeout. */
  timedOut: boolean;
  durationMs: number;
}

export interface RunCliOptions {
  /** The complete environment of the child (nothing is inherited implicitly, except NODE_COMPILE_CACHE). */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. Without it stdin is closed at once (unless `keepStdinOpen`). */
  stdin?: string;
  keepStdinOpen?: boolean;
  /** Killed (SIGKILL) after this long. Default 20 s. */
  timeoutMs?: number;
}

export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly args: string[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stderr (or stdout with `stream`), rejects after `timeoutMs`. */
  waitFor(
    pattern: RegExp,
    options?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number },
  ): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited. */
  readonly done: Promise<CliResult>;
  /** Kills the process (SIGKILL) if it is still running and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts the real CLI (`node src/cli/main.ts …`) as a subprocess. */
export function startCli(args: string[], options: RunCliOptions): CliProcess {
  const started = Date.now();
  const child = spawn(process.execPath, [cliEntry, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { NODE_COMPILE_CACHE: compileCache, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Waiters();
  const notify = () => waiters.notify();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    notify();
  });
  // A child that exits before reading all of stdin must not crash the test with EPIPE.
  child.stdin.on('error', () => undefined);
  if (options.stdin !== undefined) child.stdin.end(options.stdin);
  else if (!options.keepStdinOpen) child.stdin.end();

  let closed = false;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 20_000);

  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', (error) => {
      closed = true;
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      closed = true;
      clearTimeout(timer);
      notify();
      resolve({ args, code, signal, stdout, stderr, timedOut, durationMs: Date.now() - started });
    });
  });

  return {
    child,
    args,
    stdout: () => stdout,
    stderr: () => stderr,
    done,
    async stop() {
      if (!closed) child.kill('SIGKILL');
      await done.catch(() => undefined);
    },
    waitFor(pattern, { stream = 'stderr', timeoutMs = 10_000 } = {}) {
      return waiters.until(
        () => {
          const match = (stream === 'stderr' ? stderr : stdout).match(pattern);
          if (match) return match;
          if (closed) {
            throw new Error(
              `CLI exited (${child.exitCode ?? child.signalCode}) before ${stream} matched ${pattern}\nstdout: ${stdout}\nstderr: ${stderr}`,
            );
          }
          return undefined;
        },
        timeoutMs,
        () => `${stream} did not match ${pattern} within ${timeoutMs} ms\nstderr: ${stderr}`,
      );
    },
  };
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(args: string[], options: RunCliOptions): Promise<CliResult> {
  return startCli(args, options).done;
}
