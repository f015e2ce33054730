import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectSuccess, freePort, lines, tempHome } from './harness.ts';
import { runCli, startCli } from './run-cli.ts';

const CONSENT_URL = /^ {2}(http:\/\/127\.0\.0\.1:\d+\/oauth2\/authorize\?\S+)$/m;

describe('tokenkeeper demo --serve', () => {
  it('serves the simulated provider until SIGTERM, and the printed config works for connect and token', async ({
    onTestFinished,
  }) => {
    const cwd = tempHome(onTestFinished);
    const baseEnv = { PATH: process.env.PATH, HOME: cwd };
    const server = startCli(['demo', '--serve', '--lifetime', '120'], {
      env: baseEnv,
      cwd,
      timeoutMs: 60_000,
    });
    onTestFinished(() => server.stop());
    await server.waitFor(/Running until Ctrl-C \(SIGINT or SIGTERM\)/, { stream: 'stdout' });
    const [, home, configPath] = server
      .stdout()
      .match(/^ {2}export TOKENKEEPER_HOME=(\S+) TOKENKEEPER_CONFIG=(\S+)$/m) as RegExpMatchArray;
    // The snippet printed for your own config is the config file the export line points at.
    const snippet = server
      .stdout()
      .match(/^Or add this provider to your own tokenkeeper.json:\n([\s\S]+?\n\})\n/m);
    const config = JSON.parse(readFileSync(configPath as string, 'utf8')) as {
      providers: { demo: { tokenUrl: string; clientId: string } };
    };
    expect(JSON.parse(snippet?.[1] ?? 'null')).toEqual(config);
    expect(config.providers.demo.tokenUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oauth2\/token$/);
    expect(server.stdout()).not.toMatch(/secret/i);

    // Another CLI process, as in the printed instructions.
    const env = { ...baseEnv, TOKENKEEPER_HOME: home, TOKENKEEPER_CONFIG: configPath };
    const port = await freePort();
    const connect = startCli(
      ['connect', 'demo', '--name', 'demo-me', '--no-browser', '--port', String(port), '--timeout', '15'],
      { env, cwd },
    );
    onTestFinished(() => connect.stop());
    const [, consentUrl] = await connect.waitFor(CONSENT_URL);
    const consent = await fetch(consentUrl as string, { redirect: 'manual' });
    await consent.body?.cancel();
    const callback = await fetch(consent.headers.get('location') as string);
    expect(await callback.text()).toMatch(/Connected/);
    expect(expectSuccess(await connect.done).stdout).toBe(
      'demo-me: connected to Demo (simulated Fitbit on loopback) (account DEMO42)\n',
    );

    const token = expectSuccess(await runCli(['token', 'demo-me'], { env, cwd }));
    expect(lines(token.stdout)).toHaveLength(1);
    const refreshed = expectSuccess(await runCli(['refresh', 'demo-me', '--force'], { env, cwd }));
    expect(refreshed.stdout).toMatch(/demo-me/);
    const fresh = expectSuccess(await runCli(['token', 'demo-me'], { env, cwd }));
    expect(fresh.stdout).not.toBe(token.stdout);

    server.child.kill('SIGTERM');
    const result = await server.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Stopped: 1 consents, 1 refreshes, 0 grace replays, 0 invalid_grant/);
    expect(existsSync(home as string)).toBe(false);
  });

  it('stops by itself after --duration and rejects bad flags', async ({ onTestFinished }) => {
    const cwd = tempHome(onTestFinished);
    const env = { PATH: process.env.PATH, HOME: cwd };
    const timed = await runCli(['demo', '--serve', '--duration', '1', '--keep'], {
      env: { ...env, TOKENKEEPER_STORE: join(cwd, 'my-own.db') },
      cwd,
    });
    expect(timed.code).toBe(0);
    expect(timed.stdout).toContain('\n  unset TOKENKEEPER_STORE\n  export TOKENKEEPER_HOME=');
    expect(existsSync(join(cwd, 'my-own.db'))).toBe(false);
    expect(timed.stdout).toMatch(/Running for 1 s/);
    const [, home] = timed.stdout.match(/TOKENKEEPER_HOME=(\S+)/) as RegExpMatchArray;
    expect(existsSync(`${home}/tokenkeeper.json`)).toBe(true); // --keep
    onTestFinished(() => rmSync(home as string, { recursive: true, force: true }));

    const chaos = await runCli(['demo', '--serve', '--chaos'], { env, cwd });
    expect(chaos.code).toBe(2);
    expect(lines(chaos.stderr)).toEqual(['tokenkeeper: error: --chaos cannot be combined with --serve']);
    const port = await runCli(['demo', '--serve', '--port', 'x'], { env, cwd });
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port must be a port number( from 0 \(any free port\) to 65535)?, got "x"/);
  });

  it('the demo provider exists only with the demo: `providers` lists none, and `connect demo` does not know it', async ({
    onTestFinished,
  }) => {
    const cwd = tempHome(onTestFinished);
    const env = { PATH: process.env.PATH, HOME: cwd, TOKENKEEPER_HOME: cwd };
    const listed = JSON.parse(
      expectSuccess(await runCli(['providers', '--json'], { env, cwd })).stdout,
    ) as Array<{
      id: string;
    }>;
    expect(listed.map((provider) => provider.id)).toContain('fitbit');
    expect(listed.map((provider) => provider.id)).not.toContain('demo');
    const text = expectSuccess(await runCli(['providers'], { env, cwd })).stdout;
    expect(text).not.toMatch(/demo|simulat/i);
    const connect = await runCli(['connect', 'demo', '--no-browser'], { env, cwd });
    expect(connect.code).not.toBe(0);
    expect(connect.stderr).toMatch(/unknown provider "demo"/);
    expect(connect.stderr).not.toMatch(/oauth2, demo/);
  });
});
