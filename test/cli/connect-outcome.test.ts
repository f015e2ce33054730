import { describe, expect, it } from 'vitest';
import { approve, CONSENT_URL } from './consent.ts';
import {
  createHarness,
  DEFAULT_USER,
  expectSuccess,
  freePort,
  humanLines,
  SIM_TOKEN_PATTERN,
  statusJson,
  storedRow,
  type Harness,
} from './harness.ts';

/** What a person reads on a page: the text of its elements, entities decoded, one line per element. */
function pageText(html: string): string[] {
  return html
    .split(/<[^>]+>/)
    .map((text) =>
      text
        .replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>')
        .replaceAll('&quot;', '"')
        .replaceAll('&#39;', "'")
        .replaceAll('&amp;', '&')
        .trim(),
    )
    .filter(Boolean);
}

/**
 * Starts `connect fitbit` on a free callback port, approves on the consent page as `account`, and delivers the
 * redirect like a browser: returns the callback page the browser got and the CLI's result.
 */
async function connectAs(h: Harness, args: string[], account?: string) {
  const port = await freePort();
  const cli = h.start([
    'connect',
    'fitbit',
    '--no-browser',
    '--port',
    String(port),
    '--timeout',
    '15',
    ...args,
  ]);
  const [, consentUrl] = await cli.waitFor(CONSENT_URL);
  const location = await approve(consentUrl as string, account);
  const callback = await fetch(location);
  const page = { status: callback.status, html: await callback.text() };
  // The browser's answer comes once the flow is over: the row is already what the CLI will report.
  const rowWhenAnswered = storedRow(
    h,
    args.includes('--name') ? (args[args.indexOf('--name') + 1] as string) : 'fitbit',
  );
  const result = await cli.done;
  return { page, result, rowWhenAnswered, code: new URL(location).searchParams.get('code') as string };
}

describe.concurrent('connect: the browser is told the real outcome', () => {
  it('says "Connected" only once the tokens are saved', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const { page, result, rowWhenAnswered } = await connectAs(h, []);
    expectSuccess(result);
    expect(page.status).toBe(200);
    expect(pageText(page.html)).toContain('Connected');
    expect(pageText(page.html)).toContain(
      `tokenkeeper saved the connection "fitbit" to Fitbit Web API (account ${DEFAULT_USER}).`,
    );
    expect(rowWhenAnswered).toMatchObject({ name: 'fitbit', provider_user_id: DEFAULT_USER });
  });

  it("shows the terminal's error when the code exchange fails, and saves nothing", async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    h.sim.inject({ kind: 'status', status: 503 });
    const { page, result, rowWhenAnswered, code } = await connectAs(h, []);
    expect(result.code).toBe(4);
    const [terminalError, ...rest] = humanLines(result.stderr).filter((line) => line.includes('error'));
    expect(rest).toEqual([]);
    expect(terminalError).toMatch(/^tokenkeeper: error: .*503/);
    expect(page.status).toBe(400);
    const text = pageText(page.html);
    expect(text).not.toContain('Connected');
    expect(text).toContain('Not connected');
    expect(text).toContain(terminalError);
    for (const output of [page.html, result.stdout, result.stderr]) {
      expect(output).not.toContain(code);
      expect(output).not.toMatch(SIM_TOKEN_PATTERN);
      for (const secret of h.secrets) expect(output).not.toContain(secret);
    }
    expect(rowWhenAnswered).toBeUndefined();
    expect(await statusJson(h)).toEqual([]);
  });
});

describe.concurrent('connect: accounts', () => {
  it('refuses to switch a name to another account without --force, changing nothing; --force switches it', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('fitbit');
    const before = storedRow(h, 'fitbit');
    expect(before).toMatchObject({ provider_user_id: DEFAULT_USER });

    const refused = await connectAs(h, [], 'USER02');
    expect(refused.result.code).toBe(2);
    const message =
      'tokenkeeper: error: "fitbit" is connected to fitbit account USER01, but the consent was given for account USER02: nothing was changed; sign in as USER01, or connect the other account under another name (`tokenkeeper connect --force` switches "fitbit" to it)';
    expect(humanLines(refused.result.stderr).filter((line) => line.includes('error'))).toEqual([message]);
    expect(refused.page.status).toBe(400);
    expect(pageText(refused.page.html)).toContain(message);
    expect(storedRow(h, 'fitbit')).toEqual(before);
    // The stored refresh token is still USER01's live one: it refreshes.
    expectSuccess(await h.cli(['refresh', 'fitbit', '--force']));
    const [kept] = await statusJson(h);
    expect(kept).toMatchObject({ name: 'fitbit', account: DEFAULT_USER, status: 'active' });

    const forced = await connectAs(h, ['--force'], 'USER02');
    expectSuccess(forced.result);
    expect(forced.result.stdout).toBe('fitbit: connected to Fitbit Web API (account USER02)\n');
    expect(pageText(forced.page.html)).toContain('Connected');
    const [switched] = await statusJson(h);
    expect(switched).toMatchObject({ name: 'fitbit', account: 'USER02', status: 'active' });
  });

  it('warns when a second name connects an account that already has a connection', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('fitbit');
    const second = await connectAs(h, ['--name', 'fitbit-2']);
    expectSuccess(second.result);
    expect(humanLines(second.result.stderr).filter((line) => line.includes('warning'))).toEqual([
      'tokenkeeper: warning: "fitbit-2" and "fitbit" are the same fitbit account USER01: the provider may revoke the older grant, so "fitbit" may stop refreshing (needs_reauth); keep one connection per account (tokenkeeper remove <name>)',
    ]);
    // Another account under another name is no cause for a warning.
    const other = await connectAs(h, ['--name', 'other'], 'USER03');
    expectSuccess(other.result);
    expect(other.result.stderr).not.toContain('warning');
    expect((await statusJson(h)).map((c) => [c.name, c.account])).toEqual([
      ['fitbit', DEFAULT_USER],
      ['fitbit-2', DEFAULT_USER],
      ['other', 'USER03'],
    ]);
  });
});

describe.concurrent('connect: settings from the config', () => {
  it('connect.port 0 takes any free port and prints the redirect URI it used', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished, { config: { connect: { port: 0 } } });
    const cli = h.start(['connect', 'fitbit', '--no-browser', '--timeout', '15']);
    const [, consentUrl] = await cli.waitFor(CONSENT_URL);
    const redirectUri = new URL(consentUrl as string).searchParams.get('redirect_uri') as string;
    const port = Number(new URL(redirectUri).port);
    expect(port).toBeGreaterThan(0);
    expect(cli.stderr()).toContain(`Port 0 picked the free port ${port}.`);
    expect(cli.stderr()).toContain(`(redirect URI ${redirectUri})`);
    const callback = await fetch(await approve(consentUrl as string));
    expect(pageText(await callback.text())).toContain('Connected');
    expect(expectSuccess(await cli.done).stdout).toBe(
      `fitbit: connected to Fitbit Web API (account ${DEFAULT_USER})\n`,
    );

    const pasted = await h.cli(['connect', 'fitbit', '--paste']);
    expect(pasted.code).toBe(2);
    expect(humanLines(pasted.stderr)).toEqual([
      'tokenkeeper: error: pasting needs a redirect URI with a fixed port (the one registered with the app), not port 0: pass --port or --redirect-uri',
    ]);
  });

  it('connect.timeoutSeconds is the default wait; --timeout overrides it', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished, { config: { connect: { timeoutSeconds: 1 } } });
    const port = String(await freePort());
    const late = await h.cli(['connect', 'fitbit', '--no-browser', '--port', port]);
    expect(late.code).toBe(4);
    expect(late.stderr).toContain('Waiting up to 1 s for the consent');
    expect(humanLines(late.stderr)).toContain('tokenkeeper: error: no authorization arrived within 1 s');

    const flagged = h.start(['connect', 'fitbit', '--no-browser', '--port', port, '--timeout', '30']);
    await flagged.waitFor(/Waiting up to 30 s for the consent/);
    await flagged.stop();
  });

  it('--help names --force and what --port and --timeout default to', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    const connect = expectSuccess(await h.cli(['connect', '--help']));
    expect(flat(connect.stdout)).toMatch(/--force when the name is already connected to another account/);
    expect(flat(connect.stdout)).toContain(
      '--port <port> port of the local callback server on 127.0.0.1, 0 for any',
    );
    expect(flat(connect.stdout)).toMatch(/--timeout <seconds> how long to wait for the consent \(default:/);
  });
});
