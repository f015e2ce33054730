import { PassThrough, Readable } from 'node:stream';
import type { CliIo, GlobalOptions } from '../../src/cli/io.ts';

/** A command's io for running `run(options, io)` in the test process: real streams whose output is kept. */
export interface CapturedIo extends CliIo {
  out(): string;
  err(): string;
  /** Resolves with the first match of `pattern` in what was written to stderr; rejects after `timeoutMs`. */
  waitForErr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export function captureIo(options: {
  env: NodeJS.ProcessEnv;
  cwd: string;
  globals?: GlobalOptions;
  /** Standard input; without it, stdin is empty (ends at once). */
  stdin?: string;
}): CapturedIo {
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    listeners.forEach((listener) => listener());
  });
  return {
    stdout,
    stderr,
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    env: options.env,
    cwd: options.cwd,
    // JSON logs by default: they are what a test can read.
    globals: { logFormat: 'json', ...options.globals },
    out: () => out,
    err: () => err,
    waitForErr(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = err.match(pattern);
          if (!match) return;
          finish();
          resolve(match);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`stderr did not match ${pattern} within ${timeoutMs} ms\nstderr: ${err}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}
