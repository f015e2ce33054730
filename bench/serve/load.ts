/**
 * Load generator of `npm run bench:serve`, run as its own process so it does not share a CPU queue with the
 * server: `node bench/serve/load.ts <url> <connections> <durationMs> <maxRequests>`; an Authorization header
 * comes from BENCH_AUTHORIZATION (kept out of the process list). Keep-alive connections, each sending requests
 * back to back. Prints one JSON line: requests, errors, elapsed seconds, requests per second, latency p50/p99/max (ms).
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

const [url = '', connectionsArg = '16', durationArg = '2000', maxArg = '1000000'] = process.argv.slice(2);
const connections = Number(connectionsArg);
const durationMs = Number(durationArg);
const maxRequests = Number(maxArg);
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const headers = process.env.BENCH_AUTHORIZATION ? { authorization: process.env.BENCH_AUTHORIZATION } : {};
const target = new URL(url);

function once(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, agent, headers },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      },
    );
    req.on('error', () => resolve(false));
    req.end();
  });
}

const latencies: number[] = [];
let errors = 0;
let issued = 0;
const started = performance.now();
const deadline = started + durationMs;

async function worker(): Promise<void> {
  while (performance.now() < deadline && issued < maxRequests) {
    issued++;
    const t0 = performance.now();
    const ok = await once();
    latencies.push(performance.now() - t0);
    if (!ok) errors++;
  }
}

await Promise.all(Array.from({ length: connections }, worker));
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const at = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    errors,
    seconds: elapsed,
    rps: latencies.length / elapsed,
    p50: at(50),
    p99: at(99),
    max: latencies.at(-1) ?? NaN,
  })}\n`,
);
agent.destroy();
