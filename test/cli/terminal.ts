import { spawn } from 'node:child_process';
import { cliEntry } from './run-cli.ts';
import { Waiters } from '../support/waiters.ts';

export interface TerminalProcess {
  /** Everything the terminal showed so far (stdout and stderr of the CLI together, plus the echo of input). */
  output(): string;
  /** Resolves when the terminal output matches `pattern`; rejects when the process exits first or after 10 s. */
  waitFor(pattern: RegExp): Promise<void>;
  /** Types `text` into the terminal. */
  type(text: string): void;
  readonly done: Promise<{ code: number | null; output: string }>;
}

const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/**
 * Runs the real CLI on a real pseudo-terminal (util-linux `script`), so stdin, stdout and stderr are TTYs the way
 * they are for a person at a shell. Killed after 20 s.
 */
export function startInTerminal(args: string[], env: NodeJS.ProcessEnv, cwd?: string): TerminalProcess {
  const command = [process.execPath, cliEntry, ...args].map(quote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...env, SHELL: '/bin/sh', TERM: 'xterm' },
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Waiters();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    waiters.notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let exited = false;
  const done = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.once('close', (code) => {
      exited = true;
      clearTimeout(timer);
      waiters.notify();
      resolve({ code, output });
    });
  });
  return {
    output: () => output,
    done,
    type: (text) => child.stdin.write(text),
    waitFor(pattern) {
      return waiters
        .until(
          () => {
            if (pattern.test(output)) return true;
            if (exited) throw new Error(`CLI exited before the terminal showed ${pattern}:\n${output}`);
            return undefined;
          },
          10_000,
          () => `terminal never showed ${pattern}:\n${output}`,
        )
        .then(() => undefined);
    },
  };
}
