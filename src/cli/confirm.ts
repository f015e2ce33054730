import { createInterface } from 'node:readline';
import { TokenkeeperError } from '../core/errors.ts';
import type { CliIo } from './io.ts';

/**
 * Asks a yes/no question on the terminal (prompt on stderr, answer from stdin); only "y" or "yes" is yes, and an
 * empty line or end of input is no. Without a terminal on stdin nobody can answer, so it refuses at once (exit 2)
 * rather than wait for input that never comes or guess: scripts pass `bypassFlag` instead.
 */
export async function confirm(
  question: string,
  bypassFlag: string,
  io: Pick<CliIo, 'stdin' | 'stderr'>,
): Promise<boolean> {
  if (!io.stdin.isTTY) {
    throw new TokenkeeperError(
      'usage',
      `${question.replace(/\?$/, '')}: not confirmed (standard input is not a terminal); pass ${bypassFlag} to do it without asking`,
    );
  }
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  io.stderr.write(`${question} [y/N] `);
  try {
    for await (const line of rl) return /^\s*y(es)?\s*$/i.test(line);
    return false;
  } finally {
    rl.close();
  }
}
