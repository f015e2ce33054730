import { PassThrough, Readable } from 'node:stream';
import type { CliIo, GlobalOptions } from '../../src/cli/io.ts';
import { Waiters } from '../support/waiters.ts';

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
  const waiters = new Waiters();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    waiters.notify();
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
      return waiters.until(
        () => err.match(pattern) ?? undefined,
        timeoutMs,
        () => `stderr did not match ${pattern} within ${timeoutMs} ms\nstderr: ${err}`,
      );
    },
  };
}
