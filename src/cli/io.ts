import type { LogFormat, LogLevel } from '../logging.ts';

/** The options every command takes (`tokenkeeper --config … <command>`). */
export interface GlobalOptions {
  config?: string;
  store?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

export type OutputStream = NodeJS.WritableStream & { isTTY?: boolean };
export type InputStream = NodeJS.ReadableStream & { isTTY?: boolean };

/**
 * What a command runs with besides its own options: where it reads and writes, its environment and the global
 * options. A command is `run(options, io)`: the process's io when started from a shell, another one in a test.
 */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: InputStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly globals: GlobalOptions;
}

/** What `run` returns: the exit code, or nothing for success. */
export type CommandResult = number | void;

export function processIo(globals: GlobalOptions): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // Node sets up process.stdin on first use, which costs a run that reads nothing (`token`) a few ms.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    cwd: process.cwd(),
    globals,
  };
}
