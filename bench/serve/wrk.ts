/**
 * `npm run bench:serve`'s load generator: Debian's `wrk` (a C program, one thread), so the generator is not the
 * bottleneck the way a Node generator sharing a small machine's CPUs is. Found on the PATH, or installed with
 * apt-get when we are root, the way `npm test` installs Chromium. A Lua script sets the Authorization header from
 * the environment (never the command line) and prints one result line.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installMissing, onPath } from '../../test/setup/apt-install.ts';

export const WRK_PACKAGE = { command: 'wrk', pkg: 'wrk', for: 'npm run bench:serve' };

export interface LoadResult {
  requests: number;
  /** Connect, read, write and timeout errors plus non-2xx/3xx answers. */
  errors: number;
  seconds: number;
  rps: number;
  /** Latency percentiles in ms, as wrk measures them. */
  p50: number;
  p99: number;
  max: number;
}

const RESULT_PREFIX = 'BENCH_RESULT ';

const luaScript = `
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${RESULT_PREFIX}{"requests":%.0f,"errors":%.0f,"micros":%.0f,"p50":%.0f,"p99":%.0f,"max":%.0f}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

/** Makes sure wrk can run; throws saying what to do when it cannot be installed. */
export function ensureWrk(): void {
  if (onPath(WRK_PACKAGE.command)) return;
  if (installMissing([{ pkg: WRK_PACKAGE.pkg, for: WRK_PACKAGE.for }], 'bench:serve') && onPath('wrk'))
    return;
  throw new Error(
    'bench:serve drives its load with wrk, which is not installed: run `sudo apt-get install -y wrk` (Debian/Ubuntu) or put a wrk 4.x on the PATH, then run the bench again',
  );
}

/** Writes the Lua script (0600) into `dir` and returns a function that runs one wrk round with it. */
export function wrkRunner(
  dir: string,
  connections: number,
): (url: string, seconds: number, authorization?: string) => Promise<LoadResult> {
  const script = join(dir, 'bench-serve.lua');
  writeFileSync(script, luaScript, { mode: 0o600 });
  return (url, seconds, authorization) =>
    new Promise((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      if (authorization) env.BENCH_AUTHORIZATION = authorization;
      const child = spawn(
        'wrk',
        ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, url],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code) => {
        const line = output.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
        if (code !== 0 || !line) {
          reject(new Error(`wrk ${url} exited ${code}:\n${output}`));
          return;
        }
        const raw = JSON.parse(line.slice(RESULT_PREFIX.length)) as Record<string, number>;
        const seconds = (raw.micros as number) / 1e6;
        resolve({
          requests: raw.requests as number,
          errors: raw.errors as number,
          seconds,
          rps: (raw.requests as number) / seconds,
          p50: (raw.p50 as number) / 1000,
          p99: (raw.p99 as number) / 1000,
          max: (raw.max as number) / 1000,
        });
      });
    });
}
