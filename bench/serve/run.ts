/**
 * `npm run bench:serve`: throughput and tail latency of the daemon's token endpoint under load from wrk (a C load
 * generator, one thread) on loopback, as ratios to a bare fastify hello-world measured in the same run, with the
 * same connection count, interleaved round by round. Also measures the daemon's /healthz (same server stack, no
 * store read) to separate the HTTP stack's cost from the token lookup's, and the generator's own ceiling against
 * a raw socket server that parses nothing, which must be well above the baseline for the ratios to mean anything.
 * Nothing here asserts on times.
 *
 * Options: --quick (short rounds), --connections N (default 16), --rounds N (default 3), --seconds S (whole
 * seconds per round, default 4).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiKeyStore, apiKeyStorePath } from '../../src/api-keys/api-key-store.ts';
import { createKeeper } from '../../src/keeper/keeper.ts';
import { startSimulatedFitbit } from '../../test/simulator/index.ts';
import { benchEnv, freshTokens, makeHome, removeHome, repoRoot } from '../fixtures.ts';
import { formatRatio, formatTable, median, progress } from '../stats.ts';
import { ensureWrk, wrkRunner, type LoadResult } from './wrk.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const quick = args.includes('--quick');
const connections = option('connections', 16);
const rounds = option('rounds', quick ? 2 : 3);
const seconds = Math.max(1, Math.round(option('seconds', quick ? 1 : 4)));
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const cliEntry = join(repoRoot, 'src', 'cli', 'main.ts');

/**
 * CPU time (user + system, ms) a process has used so far, from /proc (Linux; undefined elsewhere). Per request it
 * is the server's cost independent of how much CPU the other processes on a shared machine leave it.
 */
function cpuMs(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

const children: ChildProcess[] = [];
function start(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  // stdin is a pipe the servers watch: it closes when this process ends however it ends, and they exit with it.
  const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start:\n${output}`)), 20_000);
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${output}`)));
  });
}

ensureWrk();
const home = makeHome('serve');
const sim = await startSimulatedFitbit({ clientId: 'bench-client', clientSecret: 'bench-secret' });
try {
  const env = benchEnv(home);
  env.BENCH_CLIENT_SECRET = 'bench-secret';
  const config = {
    providers: {
      fitbit: { tokenUrl: sim.tokenUrl, clientId: sim.clientId, clientSecret: 'env:BENCH_CLIENT_SECRET' },
    },
    // The benchmark measures serving, not the rate limiter's 429s.
    server: { rateLimit: { max: 100_000_000, windowSeconds: 60 } },
    daemon: { maxSleepSeconds: 60 },
  };
  const configPath = join(home, 'tokenkeeper.json');
  writeFileSync(configPath, JSON.stringify(config));
  const keeper = await createKeeper({ config: configPath, env });
  const grant = sim.seedGrant({ userId: 'BENCH' });
  await keeper.addConnection({
    name: 'me',
    provider: 'fitbit',
    clientId: sim.clientId,
    clientSecret: 'bench-secret',
    tokens: { ...freshTokens(grant.accessToken, grant.refreshToken), providerUserId: 'BENCH' },
  });
  await keeper.close();
  const keys = ApiKeyStore.open(apiKeyStorePath(home));
  const { key } = keys.create({ scopes: ['me'], label: 'bench' });
  keys.close();

  progress(
    'serve',
    `starting the daemon, the hello-world baseline and the ceiling server (wrk -t1 -c${connections}, ${rounds} rounds of ${seconds} s)`,
  );
  const daemon = await start(
    [
      ...(process.env.BENCH_DAEMON_NODE_OPTIONS?.split(' ').filter(Boolean) ?? []),
      cliEntry,
      '--config',
      configPath,
      '--log-format',
      'json',
      '--log-level',
      'info',
      'run',
      '--listen',
      '127.0.0.1:0',
    ],
    { ...env, TOKENKEEPER_LOG_LEVEL: 'info' },
    /^ready (http:\/\/\S+)\n/m,
  );
  const hello = await start([here('./hello-server.ts')], env, /^(\d+)\n/m);
  const ceiling = await start([here('./ceiling-server.ts')], env, /^(\d+)\n/m);
  const daemonUrl = daemon.match[1] as string;
  const wrk = wrkRunner(home, connections);
  const targets: { label: string; url: string; server: ChildProcess; authorization?: string }[] = [
    {
      label: 'fastify hello-world (baseline)',
      url: `http://127.0.0.1:${hello.match[1]}/hello`,
      server: hello.child,
    },
    { label: 'tokenkeeper GET /healthz', url: `${daemonUrl}/healthz`, server: daemon.child },
    {
      label: 'tokenkeeper GET /v1/connections/me/token',
      url: `${daemonUrl}/v1/connections/me/token`,
      server: daemon.child,
      authorization: `Bearer ${key}`,
    },
    {
      label: 'generator ceiling (raw socket server)',
      url: `http://127.0.0.1:${ceiling.match[1]}/`,
      server: ceiling.child,
    },
  ];
  const ceilingIndex = targets.length - 1;

  // Warm-up (JIT, connection setup, SQLite page cache), then interleaved rounds rotating the order.
  for (const target of targets) await wrk(target.url, 1, target.authorization);
  const results = targets.map(() => [] as Array<LoadResult & { serverCpuUs: number }>);
  for (let round = 0; round < rounds; round++) {
    for (let offset = 0; offset < targets.length; offset++) {
      const index = (round + offset) % targets.length;
      const target = targets[index] as (typeof targets)[number];
      const cpuBefore = cpuMs(target.server.pid);
      const result = await wrk(target.url, seconds, target.authorization);
      const cpuUsed = (cpuMs(target.server.pid) ?? Number.NaN) - (cpuBefore ?? Number.NaN);
      if (result.errors > 0) throw new Error(`${target.label}: ${result.errors} requests failed`);
      results[index]?.push({ ...result, serverCpuUs: (cpuUsed * 1000) / result.requests });
    }
    progress('serve', `round ${round + 1}/${rounds} done`);
  }

  const summary = targets.map((target, index) => {
    const samples = results[index] as Array<LoadResult & { serverCpuUs: number }>;
    return {
      label: target.label,
      requests: samples.reduce((sum, r) => sum + r.requests, 0),
      rps: median(samples.map((r) => r.rps)),
      p50: median(samples.map((r) => r.p50)),
      p99: median(samples.map((r) => r.p99)),
      serverCpuUs: median(samples.map((r) => r.serverCpuUs)),
    };
  });
  const baseline = summary[0] as (typeof summary)[number];
  const rows = summary.map((s, index) => [
    s.label,
    String(s.requests),
    s.rps.toFixed(0),
    s.p50.toFixed(2),
    s.p99.toFixed(2),
    s.serverCpuUs.toFixed(1),
    index === 0
      ? '1.00x / 1.00x / 1.00x (baseline)'
      : `${formatRatio(s.rps / baseline.rps)} / ${formatRatio(s.p99 / baseline.p99)} / ${formatRatio(s.serverCpuUs / baseline.serverCpuUs)}`,
  ]);
  const headroom = (summary[ceilingIndex] as (typeof summary)[number]).rps / baseline.rps;
  const lines = [
    '',
    `tokenkeeper bench:serve — node ${process.version}, ${platform()} ${release()}, ${cpus().length} CPUs${quick ? ' (quick mode)' : ''}`,
    `Load from wrk (-t1 -c${connections}) on loopback, ${rounds} interleaved rounds of ${seconds} s per target; medians over rounds.`,
    '',
    formatTable(
      ['target', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'ratios: req/s / p99 / CPU'],
      rows,
      [false, true, true, true, true, true, false],
    ),
    '',
    'Ratios are target / hello-world: throughput below 1.00x and p99 above 1.00x are the cost of tokenkeeper.',
    "Server CPU per request (user + system time of the server's process over its rounds) does not depend on what",
    'else runs on the machine; req/s and p99 do.',
    `Generator ceiling: wrk drives ${(summary[ceilingIndex] as (typeof summary)[number]).rps.toFixed(0)} req/s against a server that parses nothing, ${formatRatio(headroom)} the baseline${
      headroom < 1.5
        ? ': NOT well above it, so the generator may be limiting the baseline and the ratios understate the cost.'
        : ', so the generator is not what limits the figures above.'
    }`,
  ];
  const artifactDir = join(repoRoot, 'test-artifacts');
  mkdirSync(artifactDir, { recursive: true });
  const artifact = join(artifactDir, 'bench-serve.json');
  writeFileSync(
    artifact,
    `${JSON.stringify({ generatedAt: new Date().toISOString(), quick, generator: 'wrk', connections, rounds, seconds, summary, results }, null, 2)}\n`,
  );
  lines.push(`Results written to ${artifact}`, '');
  process.stdout.write(lines.join('\n'));
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(
    children.map((child) =>
      child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined,
    ),
  );
  await sim.close();
  removeHome(home);
}
