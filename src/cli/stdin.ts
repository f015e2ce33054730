import { createInterface } from 'node:readline';
import { TokenkeeperError } from '../core/errors.ts';
import type { CliIo } from './io.ts';

type Terminal = Pick<CliIo, 'stdin' | 'stderr'>;

/** Reads all of stdin (for secrets passed as `-`), trimmed. */
export async function readAllStdin(what: string, io: Terminal): Promise<string> {
  if (io.stdin.isTTY) io.stderr.write(`Paste the ${what}, then press Ctrl-D:\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk));
  const value = Buffer.concat(chunks).toString('utf8').trim();
  if (!value) throw new TokenkeeperError('usage', `no ${what} on standard input`);
  return value;
}

/** Reads one line from stdin after printing a prompt on stderr. */
export async function readLine(prompt: string, io: Terminal): Promise<string> {
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  io.stderr.write(prompt);
  try {
    for await (const line of rl) {
      if (line.trim()) return line;
    }
  } finally {
    rl.close();
  }
  throw new TokenkeeperError('usage', 'standard input ended before a URL was pasted');
}
