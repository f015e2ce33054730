import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  createHarness,
  DEFAULT_USER,
  expectSuccess,
  freePort,
  humanLines,
  SIM_TOKEN_PATTERN,
  statusJson,
} from './harness.ts';
import { approve, CONSENT_URL } from './consent.ts';

describe.concurrent('tokenkeeper connect', () => {
  it('receives the redirect on its loopback callback server and saves the connection', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const port = await freePort();
    const cli = h.start(['connect', 'fitbit', '--no-browser', '--port', String(port), '--timeout', '15']);
    const [, consentUrl] = await cli.waitFor(CONSENT_URL);
    const url = new URL(consentUrl as string);
    expect(url.origin).toBe(h.sim.url);
    expect(url.searchParams.get('redirect_uri')).toBe(`http://127.0.0.1:${port}/callback`);
    expect(url.searchParams.get('client_id')).toBe(h.sim.clientId);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/);

    const location = await approve(url.href);
    expect(location.startsWith(`http://127.0.0.1:${port}/callback?`)).toBe(true);
    const callback = await fetch(location);
    expect(callback.status).toBe(200);
    expect(await callback.text()).toMatch(/Connected/);

    const result = await cli.done;
    expectSuccess(result);
    expect(result.stdout).toBe(`fitbit: connected to Fitbit Web API (account ${DEFAULT_USER})\n`);
    expect(h.sim.stats.codeExchanges).toBe(1);
    const code = new URL(location).searchParams.get('code') as string;
    expect(`${result.stdout}${result.stderr}`).not.toContain(code);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(SIM_TOKEN_PATTERN);
    const [connection] = await statusJson(h);
    expect(connection).toMatchObject({
      name: 'fitbit',
      provider: 'fitbit',
      account: DEFAULT_USER,
      status: 'active',
      scope: 'activity heartrate profile sleep weight',
    });

    // The saved connection refreshes like any other.
    const before = h.sim.activeRefreshToken(DEFAULT_USER);
    expectSuccess(await h.cli(['refresh', 'fitbit', '--force']));
    expect(h.sim.activeRefreshToken(DEFAULT_USER)).not.toBe(before);
  });

  it('--paste reads the redirected URL from stdin', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const cli = h.start(
      ['connect', 'fitbit', '--paste', '--name', 'pasted', '--scope', 'activity', 'profile'],
      {
        keepStdinOpen: true,
      },
    );
    const [, consentUrl] = await cli.waitFor(CONSENT_URL);
    await cli.waitFor(/paste the full URL/);
    const location = await approve(consentUrl as string);
    expect(location).toContain('#_=_'); // Fitbit's real quirk; the CLI must cope with it
    cli.child.stdin.end(`${location}\n`);

    const result = expectSuccess(await cli.done);
    const code = new URL(location).searchParams.get('code') as string;
    expect(`${result.stdout}${result.stderr}`).not.toContain(code);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(SIM_TOKEN_PATTERN);
    expect(result.stdout).toMatch(/^pasted: connected to Fitbit Web API \(account USER01\)\n$/);
    const [connection] = await statusJson(h);
    expect(connection).toMatchObject({ name: 'pasted', status: 'active', scope: 'activity profile' });
  });

  it('--paste refuses a redirect meant for another request (wrong state) and saves nothing', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const cli = h.start(['connect', 'fitbit', '--paste'], { keepStdinOpen: true });
    const [, consentUrl] = await cli.waitFor(CONSENT_URL);
    const forged = new URL(await approve(consentUrl as string));
    forged.searchParams.set('state', 'someone-elses-state');
    cli.child.stdin.end(`${forged.href}\n`);

    const result = await cli.done;
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^tokenkeeper: error: authorization response has the wrong state/m);
    expect(h.sim.stats.codeExchanges).toBe(0);
    expect(await statusJson(h)).toEqual([]);
  });

  it('reports a busy callback port, and a consent that never arrives, in one line each', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const { port } = blocker.address() as AddressInfo;
    const busy = await h.cli(['connect', 'fitbit', '--no-browser', '--port', String(port)]);
    expect(busy.code).toBe(2);
    expect(humanLines(busy.stderr)).toEqual([
      `tokenkeeper: error: port ${port} is in use: pass --port with a free port (and register the matching redirect URI)`,
    ]);

    const free = await freePort();
    const late = await h.cli(['connect', 'fitbit', '--no-browser', '--port', String(free), '--timeout', '1']);
    expect(late.code).toBe(4);
    expect(late.stderr).toMatch(/^tokenkeeper: error: no authorization arrived within 1 s$/m);
    expect(await statusJson(h)).toEqual([]);
  });

  it('rejects an out-of-range --port', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const result = await h.cli(['connect', 'fitbit', '--no-browser', '--port', '65536']);
    expect(result.code).toBe(2);
    expect(humanLines(result.stderr)).toEqual([
      'tokenkeeper: error: --port must be a port number from 0 (any free port) to 65535, got "65536"',
    ]);
    expect(existsSync(join(h.home, 'tokenkeeper.db'))).toBe(false); // refused before anything was opened
  });
});
