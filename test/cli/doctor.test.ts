import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../server/daemon.ts';
import {
  createHarness,
  freePort,
  lines,
  providerConfig,
  tempHome,
  type Harness,
  type OnFinished,
} from './harness.ts';
import { runCli } from './run-cli.ts';

/** Every path under `dir` with its mode, size, mtime and content hash: doctor must leave all of it as it was. */
function snapshot(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  const walk = (path: string) => {
    const stats = lstatSync(path);
    const content = stats.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : '';
    entries[path] = `${stats.mode.toString(8)} ${stats.size} ${stats.mtimeMs} ${content}`;
    if (stats.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return entries;
}

async function listening(server: Server, onFinished: OnFinished): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

let configCount = 0;

/** A config for the harness's simulator plus a free daemon port, so no test depends on 8977 being free. */
async function doctorConfig(h: Harness, extra: Record<string, unknown> = {}, listen?: string) {
  return h.writeConfig(
    {
      providers: { fitbit: providerConfig(h.sim) },
      server: { listen: listen ?? `127.0.0.1:${await freePort()}` },
      ...extra,
    },
    `doctor-${++configCount}.json`,
  );
}

interface DoctorJson {
  ok: boolean;
  checks: { id: string; status: string; message: string; fix?: string }[];
}

const byId = (json: DoctorJson) => Object.fromEntries(json.checks.map((check) => [check.id, check]));

describe.concurrent('tokenkeeper doctor', () => {
  it('passes on a working set-up, one line per check, and changes nothing', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const config = await doctorConfig(h);
    const before = snapshot(h.home);
    const result = await h.cli(['doctor'], { config });
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toEqual([
      expect.stringMatching(/^ok {4}node: Node \d+\.\d+\.\d+ \(tokenkeeper needs >=\d/),
      `ok    config: ${config}`,
      `ok    data dir: ${h.home} (mode 700)`,
      expect.stringMatching(new RegExp(`^ok {4}key: ${join(h.home, 'key')}: key id [0-9a-f]{12}$`)),
      `ok    store: ${join(h.home, 'tokenkeeper.db')}: 1 connection, readable with the loaded key`,
      `ok    provider fitbit: client id ${h.sim.clientId}, client secret (env:…) resolves`,
      `ok    provider fitbit token endpoint: ${new URL(h.sim.url).host}: TCP connect ok`,
      expect.stringMatching(
        /^ok {4}daemon port: 127\.0\.0\.1:\d+ \(server\.listen\) is free for `tokenkeeper run`$/,
      ),
      'All checks passed.',
    ]);
    expect(snapshot(h.home)).toEqual(before);
    h.snapshotSecrets();
    for (const secret of h.secrets) expect(result.stdout + result.stderr).not.toContain(secret);

    const json = await h.cli(['doctor', '--json'], { config });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as DoctorJson;
    expect(parsed.ok).toBe(true);
    expect(parsed.checks.map((check) => check.id)).toEqual([
      'node',
      'config',
      'data-dir',
      'key',
      'store',
      'provider:fitbit',
      'provider:fitbit:endpoint',
      'daemon-port',
    ]);
    expect(parsed.checks.every((check) => check.status === 'ok')).toBe(true);
  });

  it('on a fresh machine reports "not created yet" and creates nothing', async ({ onTestFinished }) => {
    const base = tempHome(onTestFinished);
    const home = join(base, 'tokenkeeper-home');
    const result = await runCli(['doctor', '--offline', '--json'], {
      env: { PATH: process.env.PATH, HOME: base, TOKENKEEPER_HOME: home },
      cwd: base,
    });
    const checks = byId(JSON.parse(result.stdout) as DoctorJson);
    expect(checks['data-dir']?.message).toBe(
      `${home}: not created yet (created 0700 by the first connect or add)`,
    );
    expect(checks.key?.message).toBe(`${join(home, 'key')}: not created yet (created 0600 on first use)`);
    expect(checks.store?.message).toBe(
      `${join(home, 'tokenkeeper.db')}: not created yet (created by the first connect or add)`,
    );
    expect(checks.providers?.status).toBe('warn');
    expect(existsSync(home)).toBe(false);
    expect(readdirSync(base)).toEqual([]);
  });

  it('recognises a running tokenkeeper daemon on the port, and fails on another program there', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const daemon = await startDaemon(h);
    const held = await h.cli(['doctor', '--offline', '--json'], {
      config: await doctorConfig(h, {}, new URL(daemon.url).host),
    });
    expect(held.code).toBe(0);
    expect(byId(JSON.parse(held.stdout) as DoctorJson)['daemon-port']?.message).toBe(
      `${new URL(daemon.url).host} (server.listen) is held by a running tokenkeeper daemon (${daemon.url})`,
    );
    await daemon.stop();

    const port = await listening(
      createServer((socket) => socket.resume().end('hello\n')),
      onTestFinished,
    );
    const other = await h.cli(['doctor', '--offline'], {
      config: await doctorConfig(h, {}, `127.0.0.1:${port}`),
    });
    expect(other.code).toBe(1);
    expect(other.stdout).toContain(
      `FAIL  daemon port: 127.0.0.1:${port} (server.listen) is in use by another program — fix: stop it, or set server.listen (or run --listen) to a free port`,
    );
    expect(other.stdout).toMatch(/1 problem to fix\.\n$/);
  });

  it('names an unresolvable client secret (never printing a secret) and an unreachable token endpoint', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const config = await doctorConfig(h);
    const noSecret = await h.cli(['doctor'], { config, env: { FITBIT_SECRET: undefined } });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stdout).toContain(
      'FAIL  provider fitbit: providers.fitbit.clientSecret: environment variable FITBIT_SECRET is not set or empty',
    );
    expect(noSecret.stdout).toContain(
      'skip  provider fitbit token endpoint: skipped: fix the provider config first',
    );

    const ok = await h.cli(['doctor'], { config });
    expect(ok.stdout + ok.stderr).not.toContain(h.sim.clientSecret as string);

    const closedPort = await freePort();
    const down = await h.writeConfig(
      {
        providers: {
          fitbit: { ...providerConfig(h.sim), tokenUrl: `http://127.0.0.1:${closedPort}/oauth2/token` },
        },
        server: { listen: `127.0.0.1:${await freePort()}` },
      },
      'down.json',
    );
    const unreachable = await h.cli(['doctor'], { config: down });
    expect(unreachable.code).toBe(4);
    expect(unreachable.stdout).toMatch(
      new RegExp(
        `FAIL  provider fitbit token endpoint: 127\\.0\\.0\\.1:${closedPort}: TCP connection failed \\(connect ECONNREFUSED[^)]*\\) — fix: `,
      ),
    );
    const offline = await h.cli(['doctor', '--offline'], { config: down });
    expect(offline.code).toBe(0);
    expect(offline.stdout).toContain('skip  provider fitbit token endpoint: skipped (--offline)');
  });

  it('verifies TLS: a trusted certificate passes, a self-signed one fails', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const fixtures = new URL('../server/fixtures/', import.meta.url);
    const cert = readFileSync(new URL('tls-cert.pem', fixtures));
    const key = readFileSync(new URL('tls-key.pem', fixtures));
    const port = await listening(
      createHttpsServer({ cert, key }, (_req, res) => res.end()) as unknown as Server,
      onTestFinished,
    );
    const config = await doctorConfig(h, {
      providers: { fitbit: { ...providerConfig(h.sim), tokenUrl: `https://localhost:${port}/oauth2/token` } },
    });
    const untrusted = await h.cli(['doctor'], { config });
    expect(untrusted.code).toBe(4);
    expect(untrusted.stdout).toMatch(
      /FAIL {2}provider fitbit token endpoint: localhost:\d+: TLS connection failed \(self[- ]signed certificate/,
    );

    // A server that accepts and never answers: the check gives up after --timeout, and doctor exits.
    const silentPort = await listening(
      createServer((socket) => socket.resume()),
      onTestFinished,
    );
    const silent = await h.cli(['doctor', '--timeout', '1'], {
      config: await doctorConfig(h, {
        providers: {
          fitbit: { ...providerConfig(h.sim), tokenUrl: `https://localhost:${silentPort}/oauth2/token` },
        },
      }),
    });
    expect(silent.code).toBe(4);
    expect(silent.stdout).toContain(
      `FAIL  provider fitbit token endpoint: localhost:${silentPort}: TLS connection failed (no answer within 1 s)`,
    );

    const trusted = await h.cli(['doctor'], {
      config,
      env: { NODE_EXTRA_CA_CERTS: new URL('tls-cert.pem', fixtures).pathname },
    });
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toMatch(
      /ok {4}provider fitbit token endpoint: localhost:\d+: DNS (127\.0\.0\.1|::1), TLS certificate valid/,
    );
  });

  it("fails on a store that is not tokenkeeper's, a wrong key and a missing key file, leaving them untouched", async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const config = await doctorConfig(h);

    const notADatabase = h.writeText('root:x:0:0:root:/root:/bin/bash\n', 'passwd');
    chmodSync(notADatabase, 0o644);
    const before = snapshot(h.home);
    const foreign = await h.cli(['--store', notADatabase, 'doctor', '--offline'], { config });
    expect(foreign.code).toBe(5);
    expect(foreign.stdout).toContain(
      `FAIL  store: store ${notADatabase} is not a SQLite database: refusing to use it (left untouched)`,
    );
    const directory = await h.cli(['--store', h.home, 'doctor', '--offline'], { config });
    expect(directory.code).toBe(5);
    expect(directory.stdout).toContain(
      `FAIL  store: store ${h.home} is a directory, not a regular file: refusing to use it`,
    );

    const otherKey = 'a'.repeat(64);
    const wrongKey = await h.cli(['doctor', '--offline'], { config, env: { TOKENKEEPER_KEY: otherKey } });
    expect(wrongKey.code).toBe(5);
    expect(wrongKey.stdout).toMatch(
      /FAIL {2}store: .*1 connection, encrypted with key [0-9a-f]{12}, not the loaded key [0-9a-f]{12}/,
    );
    expect(wrongKey.stdout).not.toContain(otherKey);

    const missing = join(h.home, 'no-such-key');
    const noKeyFile = await h.cli(['doctor', '--offline'], {
      config,
      env: { TOKENKEEPER_KEY_FILE: missing },
    });
    expect(noKeyFile.code).toBe(5);
    expect(noKeyFile.stdout).toContain(`FAIL  key: TOKENKEEPER_KEY_FILE ${missing} does not exist`);
    expect(noKeyFile.stdout).toMatch(/FAIL {2}store: .*but no key to read it/);
    expect(snapshot(h.home)).toEqual(before);
    expect(existsSync(missing)).toBe(false);

    const linkedKey = join(h.home, 'key-link');
    symlinkSync(join(h.home, 'key'), linkedKey);
    const viaLink = await h.cli(['doctor', '--offline'], {
      config,
      env: { TOKENKEEPER_KEY_FILE: linkedKey },
    });
    expect(viaLink.code).toBe(5);
    expect(viaLink.stdout).toContain(
      `FAIL  key: ${linkedKey} is a symbolic link; tokenkeeper reads only its own files`,
    );

    const kernel = await h.cli(['doctor', '--offline'], {
      config,
      env: { TOKENKEEPER_HOME: '/proc/tokenkeeper' },
    });
    expect(kernel.code).toBe(5);
    expect(kernel.stdout).toContain(
      'FAIL  data dir: /proc/tokenkeeper: not created yet, and cannot be: /proc is a kernel file system',
    );

    chmodSync(join(h.home, 'key'), 0o644);
    const loose = await h.cli(['doctor', '--offline'], { config });
    expect(loose.code).toBe(0);
    expect(loose.stdout).toContain(
      `warn  key: ${join(h.home, 'key')} has mode 644: others can read the key — fix: chmod 600 ${join(h.home, 'key')}`,
    );
    chmodSync(join(h.home, 'key'), 0o600);

    writeFileSync(join(h.home, 'bad.json'), '{ "providers": ');
    const badConfig = await h.cli(['doctor'], { config: join(h.home, 'bad.json') });
    expect(badConfig.code).toBe(2);
    expect(lines(badConfig.stdout)[1]).toMatch(/^FAIL {2}config: /);
  });

  it('checks the providers stored connections use, even when the config does not list them', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const withSecond = h.writeConfig(
      {
        providers: {
          fitbit: providerConfig(h.sim),
          'fitbit-two': { extends: 'fitbit', ...providerConfig(h.sim) },
        },
      },
      'two.json',
    );
    await h.addConnection('me');
    const seed = h.seed({ userId: 'USER02' });
    const added = await h.cli(['add', 'second', '--provider', 'fitbit-two', '--refresh-token', '-'], {
      config: withSecond,
      stdin: `${seed.refreshToken}\n`,
    });
    expect(added.code).toBe(0);

    const bare = h.writeConfig({ server: { listen: `127.0.0.1:${await freePort()}` } }, 'bare.json');
    const result = await h.cli(['doctor', '--offline'], { config: bare });
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('skip  provider fitbit token endpoint: skipped (--offline)');
    expect(result.stdout).toMatch(
      /FAIL {2}provider fitbit-two: used by stored connections: unknown provider "fitbit-two".* — fix: configure providers\.fitbit-two, or remove its connections/,
    );
    expect(result.stdout).not.toContain('providers: none configured');
  });

  it('has --help and rejects a bad --timeout', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const help = await h.cli(['doctor', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--offline/);
    expect(help.stdout).toMatch(/--json/);
    const bad = await h.cli(['doctor', '--timeout', '0']);
    expect(bad.code).toBe(2);
    expect(lines(bad.stderr)).toEqual([
      'tokenkeeper: error: --timeout must be a positive number of seconds, got "0"',
    ]);
  });
});
