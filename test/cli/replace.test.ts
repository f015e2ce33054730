import { describe, expect, it } from 'vitest';
import { createApiKey, startDaemon } from '../server/daemon.ts';
import { approve } from './consent.ts';
import { GOOGLE_CONSENT_URL, GOOGLE_TOKEN_PATTERN, GOOGLE_USER, twoProviders } from './google-health.ts';
import {
  createHarness,
  DEFAULT_USER,
  expectSuccess,
  freePort,
  humanLines,
  logRecords,
  SIM_TOKEN_PATTERN,
  statusJson,
  storedRow,
  type Harness,
} from './harness.ts';

/** Starts `connect google-health --replace <name>` on a free callback port; resolves once it shows the consent URL. */
async function startReplace(h: Harness, name: string, extra: string[] = []) {
  const port = await freePort();
  const cli = h.start([
    'connect',
    'google-health',
    '--replace',
    name,
    '--no-browser',
    '--port',
    String(port),
    '--timeout',
    '15',
    ...extra,
  ]);
  const [, consentUrl] = await cli.waitFor(GOOGLE_CONSENT_URL);
  return { cli, consentUrl: new URL(consentUrl as string) };
}

/** Approves on the simulated Google consent page and delivers the redirect like a browser. */
async function approveAndReturn(consentUrl: URL): Promise<{ status: number; text: string }> {
  const callback = await fetch(await approve(consentUrl.href));
  return { status: callback.status, text: await callback.text() };
}

/** The Fitbit refresh-token revocations the simulator accepted (each needs the Fitbit client's credentials). */
const revocations = (h: Harness) => h.sim.stats.revocations;

describe.concurrent('tokenkeeper connect <provider> --replace <name>', () => {
  it('moves the name to google-health: the API key scoped to it keeps working, the Fitbit grant is revoked', async ({
    onTestFinished,
  }) => {
    const { h, google } = await twoProviders(onTestFinished);
    await h.addConnection('fitbit-me');
    const key = await createApiKey(h, ['fitbit-me']);
    const createdAt = (await statusJson(h))[0]?.createdAt;

    const { cli, consentUrl } = await startReplace(h, 'fitbit-me', ['--json']);
    expect(consentUrl.origin).toBe(google.url);
    expect(consentUrl.searchParams.get('client_id')).toBe(google.clientId);
    expect(cli.stderr()).toMatch(
      /Replacing "fitbit-me" \(fitbit, active\) with a connection at google-health: nothing changes until the consent succeeds\./,
    );
    // A refresh while the consent is open rotates the Fitbit tokens: the move reads the connection anew when it
    // saves, so the grant it revokes is the current one.
    expectSuccess(await h.cli(['refresh', 'fitbit-me', '--force']));
    const page = await approveAndReturn(consentUrl);
    expect(page.status).toBe(200);
    expect(page.text).toContain('saved the connection &quot;fitbit-me&quot; to Google Health API');

    const result = expectSuccess(await cli.done);
    expect(JSON.parse(result.stdout)).toMatchObject({
      name: 'fitbit-me',
      provider: 'google-health',
      status: 'active',
      replaced: { previousProvider: 'fitbit', revoked: true },
    });
    expect(humanLines(result.stderr).join('\n')).not.toMatch(/warning/);
    expect(logRecords(result.stderr)).toContainEqual(
      expect.objectContaining({
        msg: 'replaced',
        connection: 'fitbit-me',
        provider: 'google-health',
        previousProvider: 'fitbit',
        revoked: true,
      }),
    );
    // The old grant was revoked at Fitbit, with Fitbit's client; Google saw no revocation (nor any Fitbit token).
    expect(revocations(h)).toBe(1);
    expect(h.sim.activeRefreshToken(DEFAULT_USER)).toBeUndefined();
    expect(google.stats.revocations).toBe(0);
    expect(google.stats.codeExchanges).toBe(1);

    const [moved] = await statusJson(h);
    expect(moved).toMatchObject({ name: 'fitbit-me', provider: 'google-health', status: 'active' });
    expect(moved?.createdAt).toBe(createdAt);

    // `token` serves the new grant's access token, which Google accepts.
    const token = expectSuccess(await h.cli(['token', 'fitbit-me'])).stdout.trim();
    expect(token).toMatch(GOOGLE_TOKEN_PATTERN);
    h.secrets.add(token);
    const userinfo = await fetch(google.profileUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(await userinfo.json()).toMatchObject({ sub: GOOGLE_USER });

    // A daemon serves the same connection to the API key that was scoped to the name before the move.
    const daemon = await startDaemon(h);
    const answer = await daemon.api<{ accessToken: string }>(`${daemon.url}/v1/connections/fitbit-me/token`, {
      key,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.accessToken).toBe(token);
    await daemon.stop();

    for (const run of h.results) {
      expect(`${run.stdout}${run.stderr}`).not.toMatch(SIM_TOKEN_PATTERN);
      expect(`${run.stdout}${run.stderr}`.replace(token, '')).not.toMatch(GOOGLE_TOKEN_PATTERN);
      expect(run.stderr).not.toContain(google.clientSecret);
    }
  });

  it('a retired Fitbit connection points at --replace; replacing it works though the revoke fails (warning)', async ({
    onTestFinished,
  }) => {
    const { h } = await twoProviders(onTestFinished);
    await h.addConnection('fitbit-me');
    h.sim.setRetired(true);

    const refresh = await h.cli(['refresh', 'fitbit-me', '--force']);
    expect(refresh.code).toBe(3);
    expect(humanLines(refresh.stderr)).toEqual([
      expect.stringMatching(
        /^fitbit-me: FAILED: .*; run `tokenkeeper connect google-health --replace fitbit-me`$/,
      ),
    ]);
    const token = await h.cli(['token', 'fitbit-me']);
    expect(token.code).toBe(3);
    expect(humanLines(token.stderr)).toEqual([
      expect.stringMatching(
        /provider fitbit is retired.*`tokenkeeper connect google-health --replace fitbit-me`$/,
      ),
    ]);
    expect(await statusJson(h)).toEqual([
      expect.objectContaining({ status: 'provider_retired', successor: 'google-health' }),
    ]);

    const { cli, consentUrl } = await startReplace(h, 'fitbit-me');
    expect(cli.stderr()).toMatch(/Replacing "fitbit-me" \(fitbit, provider_retired\)/);
    expect((await approveAndReturn(consentUrl)).status).toBe(200);
    const result = expectSuccess(await cli.done);
    expect(result.stdout).toBe(
      'fitbit-me: replaced fitbit with Google Health API (Google OAuth 2.0); the old grant was not revoked\n',
    );
    expect(humanLines(result.stderr).filter((line) => /warning/.test(line))).toEqual([
      expect.stringMatching(
        /^tokenkeeper: warning: the old fitbit grant of "fitbit-me" was not revoked \(.*HTTP 410.*\); the connection was replaced all the same\./,
      ),
    ]);
    expect(revocations(h)).toBe(0);
    expect(await statusJson(h)).toEqual([
      expect.objectContaining({
        provider: 'google-health',
        status: 'active',
        successor: null,
        lastError: null,
      }),
    ]);
    expect(expectSuccess(await h.cli(['token', 'fitbit-me'])).stdout).toMatch(GOOGLE_TOKEN_PATTERN);
  });

  it('a failed consent (denied, or a failing code exchange) changes nothing: same row, no revoke', async ({
    onTestFinished,
  }) => {
    const { h, google } = await twoProviders(onTestFinished);
    await h.addConnection('fitbit-me');
    const before = storedRow(h, 'fitbit-me');
    expect(before).toBeDefined();

    // The user says no: the provider sends the browser back with error=access_denied.
    const denied = await startReplace(h, 'fitbit-me');
    const back = new URL(denied.consentUrl.searchParams.get('redirect_uri') as string);
    back.searchParams.set('error', 'access_denied');
    back.searchParams.set('state', denied.consentUrl.searchParams.get('state') as string);
    await (await fetch(back)).body?.cancel();
    const deniedResult = await denied.cli.done;
    expect(deniedResult.code).not.toBe(0);
    expect(humanLines(deniedResult.stderr).at(-1)).toMatch(/^tokenkeeper: error: .*access_denied/);

    // The token endpoint fails the code exchange.
    const failing = await startReplace(h, 'fitbit-me');
    google.inject({
      kind: 'status',
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Bad code' },
    });
    expect((await approveAndReturn(failing.consentUrl)).status).not.toBe(200);
    const failedResult = await failing.cli.done;
    expect(failedResult.code).not.toBe(0);

    expect(storedRow(h, 'fitbit-me')).toEqual(before);
    expect(revocations(h)).toBe(0);
    expect(google.stats.codeExchanges).toBe(0);
    for (const result of [deniedResult, failedResult]) {
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toMatch(/replaced|warning/);
    }
    // The Fitbit connection still refreshes as before.
    expectSuccess(await h.cli(['refresh', 'fitbit-me', '--force']));
    expect((await statusJson(h))[0]).toMatchObject({ provider: 'fitbit', status: 'active' });
  });

  it('refuses an unknown name, the same provider, and --name or --force beside it, before any consent', async ({
    onTestFinished,
  }) => {
    const { h, google } = await twoProviders(onTestFinished);
    await h.addConnection('fitbit-me');
    const before = storedRow(h, 'fitbit-me');
    const refused = async (args: string[], pattern: RegExp) => {
      const result = await h.cli(['connect', ...args, '--no-browser', '--port', '0']);
      expect(result.code, result.stderr).toBe(2);
      expect(humanLines(result.stderr)).toEqual([expect.stringMatching(pattern)]);
    };
    await refused(
      ['google-health', '--replace', 'nobody'],
      /^tokenkeeper: error: no connection named "nobody" to replace: see `tokenkeeper status` for the names/,
    );
    await refused(
      ['fitbit', '--replace', 'fitbit-me'],
      /^tokenkeeper: error: "fitbit-me" is already connected to fitbit: replacing moves a connection to another provider; run `tokenkeeper connect fitbit --name fitbit-me`$/,
    );
    await refused(['google-health', '--replace', 'fitbit-me', '--name', 'x'], /leave out --name$/);
    await refused(['google-health', '--replace', 'fitbit-me', '--force'], /leave out --force$/);
    expect(storedRow(h, 'fitbit-me')).toEqual(before);
    expect(google.stats.requests).toEqual([]);
    expect(h.sim.stats.revocations).toBe(0);
  });
});

describe.concurrent('tokenkeeper refresh --force on a retired provider', () => {
  it('asks again: still 410 keeps it retired; a normal answer makes it active; unforced refreshes skip it', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    h.sim.setRetired(true);
    expect((await h.cli(['refresh', 'me'])).code).toBe(0); // not due yet: nothing asked
    expect((await h.cli(['refresh', 'me', '--force'])).code).toBe(3);
    const retiredAt = (await statusJson(h))[0];
    expect(retiredAt).toMatchObject({ status: 'provider_retired', failureCount: 1 });

    // A refresh nobody forced (as a scheduler makes) does not ask the provider.
    const asked = h.sim.stats.tokenRequests;
    const unforced = await h.cli(['refresh', 'me']);
    expect(unforced.code).toBe(3);
    expect(humanLines(unforced.stderr)).toEqual([
      expect.stringMatching(/^me: FAILED: .*provider fitbit is retired.*--replace me`$/),
    ]);
    expect(h.sim.stats.tokenRequests).toBe(asked);

    // Forced while it still answers 410: one request, still retired.
    expect((await h.cli(['refresh', 'me', '--force'])).code).toBe(3);
    expect(h.sim.stats.tokenRequests).toBe(asked + 1);
    expect((await statusJson(h))[0]).toMatchObject({
      status: 'provider_retired',
      successor: 'google-health',
    });

    // Forced once it answers normally again: refreshed, active, the failure cleared.
    h.sim.setRetired(false);
    const back = expectSuccess(await h.cli(['refresh', 'me', '--force']));
    expect(back.stdout).toMatch(/^me: refreshed, access token valid for /);
    expect((await statusJson(h))[0]).toMatchObject({
      status: 'active',
      successor: null,
      lastError: null,
      failureCount: 0,
      nextRefreshAt: expect.any(String),
    });
    expectSuccess(await h.cli(['token', 'me']));
  });
});
