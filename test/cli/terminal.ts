import { spawn } from 'node:child_process';
import { cliEntry } from './run-cli.ts';

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
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    listeners.forEach((listener) => listener());
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let exited = false;
  const done = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.once('close', (code) => {
      exited = true;
      clearTimeout(timer);
      listeners.forEach((listener) => listener());
      resolve({ code, output });
    });
  });
  return {
    output: () => output,
    done,
    type: (text) => child.stdin.write(text),
    waitFor(pattern) {
      return new Promise<void>((resolve, reject) => {
        const timeout = setTimeout(
          () => finish(new Error(`terminal never showed ${pattern}:\n${output}`)),
          10_000,
        );
        const finish = (error?: Error) => {
          clearTimeout(timeout);
          listeners.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (pattern.test(output)) finish();
          else if (exited) finish(new Error(`CLI exited before the terminal showed ${pattern}:\n${output}`));
        };
        listeners.add(check);
        check();
      });
    },
  };
}
