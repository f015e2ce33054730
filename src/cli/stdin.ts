import { createInterface } from 'node:readline';
import { TokenkeeperError } from '../core/errors.ts';

/** Reads all of stdin (for secrets passed as `-`), trimmed. */
export async function readAllStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`Paste the ${what}, then press Ctrl-D:\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const value = Buffer.concat(chunks).toString('utf8').trim();
  if (!value) throw new TokenkeeperError('usage', `no ${what} on standard input`);
  return value;
}

/** Reads one line from stdin after printing a prompt on stderr. */
export async function readLine(prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  process.stderr.write(prompt);
  try {
    for await (const line of rl) {
      if (line.trim()) return line;
    }
  } finally {
    rl.close();
  }
  throw new TokenkeeperError('usage', 'standard input ended before a URL was pasted');
}
