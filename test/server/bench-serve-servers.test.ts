import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const benchServe = join(import.meta.dirname, '..', '..', 'bench', 'serve');

/** `npm run bench:serve`'s own servers must not outlive it, even when it is killed before it can stop them. */
describe.concurrent('bench:serve servers', () => {
  it.each(['ceiling-server.ts', 'hello-server.ts'])(
    '%s exits by itself once the bench that started it is gone',
    async (file) => {
      const child = spawn(process.execPath, [join(benchServe, file)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        const port = await new Promise<string>((resolve, reject) => {
          child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
          child.once('exit', () => reject(new Error(`${file} exited before it listened`)));
        });
        expect(Number(port)).toBeGreaterThan(0);
        // What the bench's death does to the pipe it holds.
        child.stdin.end();
        const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 10_000));
        expect(await Promise.race([exited, timeout])).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  );
});
