import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createHarness,
  DEFAULT_USER,
  expectSuccess,
  humanLines,
  lines,
  providerConfig,
  statusJson,
  type Harness,
} from './harness.ts';
import type { CliResult } from './run-cli.ts';

/** A failed command: the expected exit code and exactly one line on stderr, matching `message`. */
function expectOneLineError(result: CliResult, code: number, message: RegExp): void {
  const detail = `tokenkeeper ${result.args.join(' ')}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  expect(result.code, detail).toBe(code);
  expect(lines(result.stderr), detail).toEqual([expect.stringMatching(message)]);
  expect(result.stderr, detail).toMatch(/^tokenkeeper: error: /);
}

/** The connection is intact: it still refreshes (rotating at the provider) with the right setup. */
async function expectStillRefreshes(h: Harness, name = 'me', userId = DEFAULT_USER): Promise<void> {
  const before = h.sim.activeRefreshToken(userId);
  expectSuccess(await h.cli(['refresh', name, '--force']));
  expect(h.sim.activeRefreshToken(userId)).not.toBe(before);
}

describe.concurrent('tokenkeeper CLI: connections a human must re-authorise', () => {
  it('a refresh token the provider no longer accepts → exit 3, needs_reauth, pointing at `tokenkeeper connect`', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    h.seed({ userId: DEFAULT_USER }); // the user connected again elsewhere: our refresh token is now dead

    const refresh = await h.cli(['refresh', 'me', '--force']);
    expect(refresh.code).toBe(3);
    expect(refresh.stdout).toBe('');
    expect(humanLines(refresh.stderr)).toEqual([
      expect.stringMatching(/^me: FAILED: .*needs re-authorisation.*`tokenkeeper connect fitbit --name me`/),
    ]);
    const [me] = await statusJson(h);
    expect(me).toMatchObject({ name: 'me', status: 'needs_reauth', nextRefreshAt: null });
    expect(me?.lastError).toMatch(/invalid_grant/);

    // Later commands say the same without calling the provider again.
    const requests = h.sim.stats.refreshRequests;
    expectOneLineError(await h.cli(['token', 'me']), 3, /needs re-authorisation.*tokenkeeper connect fitbit/);
    const again = await h.cli(['refresh', 'me', '--force']);
    expect(again.code).toBe(3);
    expect(h.sim.stats.refreshRequests).toBe(requests);
  });

  it('a token revoked at the provider → exit 3 and needs_reauth', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const { seed } = await h.addConnection('me');
    const revoked = await fetch(h.sim.revokeUrl, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${h.sim.clientId}:${h.sim.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: h.sim.activeRefreshToken(seed.userId) as string }),
    });
    expect(revoked.status).toBe(200);
    await revoked.body?.cancel();

    const refresh = await h.cli(['refresh', 'me', '--force']);
    expect(refresh.code).toBe(3);
    expect(refresh.stderr).toMatch(/tokenkeeper connect/);
    expect((await statusJson(h))[0]?.status).toBe('needs_reauth');
  });

  it('a retired provider (410 Gone) → exit 3, provider_retired, pointing at google-health', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    h.sim.setRetired(true);

    const refresh = await h.cli(['refresh', 'me', '--force']);
    expect(refresh.code).toBe(3);
    expect(humanLines(refresh.stderr)).toEqual([expect.stringMatching(/^me: FAILED: .*google-health/)]);
    const [me] = await statusJson(h);
    expect(me).toMatchObject({ status: 'provider_retired', nextRefreshAt: null });

    expectOneLineError(await h.cli(['token', 'me']), 3, /provider fitbit is retired.*google-health/);
    expect((await statusJson(h))[0]?.status).toBe('provider_retired');
  });
});

describe.concurrent(
  'tokenkeeper CLI: bad input gets one clear line, a non-zero exit, and leaves the store intact',
  () => {
    it('rejects bad config files, unknown providers, non-loopback http, unknown commands and options', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      await h.addConnection('me');
      const requests = h.sim.stats.tokenRequests;

      const notJson = h.writeText('{"providers": {', 'broken.json');
      expectOneLineError(await h.cli(['status'], { config: notJson }), 2, /broken\.json is not valid JSON/);
      expectOneLineError(await h.cli(['refresh', 'me', '--force'], { config: notJson }), 2, /not valid JSON/);

      const unknownKey = h.writeConfig(
        { providers: { fitbit: providerConfig(h.sim) }, refresh: { marginSeconds: 60, retryForever: true } },
        'unknown-key.json',
      );
      expectOneLineError(await h.cli(['status'], { config: unknownKey }), 2, /refresh.*retryForever/);

      const missing = await h.cli(['status'], { config: `${h.home}/no-such-config.json` });
      expectOneLineError(missing, 2, /cannot read config file .*no-such-config\.json/);

      const plainHttp = h.writeConfig(
        { providers: { fitbit: providerConfig(h.sim, { tokenUrl: 'http://api.example.com/oauth2/token' }) } },
        'plain-http.json',
      );
      expectOneLineError(
        await h.cli(['refresh', 'me', '--force'], { config: plainHttp }),
        2,
        /tokenUrl http:\/\/api\.example\.com must use https/,
      );

      const seed = h.seed({ userId: 'USER09' });
      const unknownProvider = await h.cli(['add', 'x', '--provider', 'nope'], { stdin: seed.refreshToken });
      expectOneLineError(unknownProvider, 2, /unknown provider "nope"/);

      const badName = await h.cli(['add', '../evil', '--provider', 'fitbit'], { stdin: seed.refreshToken });
      expect(badName.code).toBe(2);
      expect(humanLines(badName.stderr)).toHaveLength(1);

      const noToken = await h.cli(['add', 'empty', '--provider', 'fitbit'], { stdin: '' });
      expectOneLineError(noToken, 2, /no refresh token on standard input/);

      const bareSecret = await h.cli([
        'add',
        'y',
        '--provider',
        'fitbit',
        '--refresh-token',
        seed.refreshToken,
      ]);
      expectOneLineError(bareSecret, 2, /must be a reference/);
      expect(bareSecret.stderr).not.toContain(seed.refreshToken);

      const unknownCommand = await h.cli(['frobnicate']);
      expect(unknownCommand.code).toBe(2);
      expect(unknownCommand.stderr).toMatch(/unknown command 'frobnicate'/);
      const unknownOption = await h.cli(['status', '--frobnicate']);
      expect(unknownOption.code).toBe(2);
      expect(unknownOption.stderr).toMatch(/unknown option '--frobnicate'/);
      const badChoice = await h.cli(['status'], { logLevel: 'loud' as 'debug' });
      expect(badChoice.code).toBe(2);

      // None of it reached the provider or touched the store.
      expect(h.sim.stats.tokenRequests).toBe(requests);
      expect((await statusJson(h)).map((c) => [c.name, c.status])).toEqual([['me', 'active']]);
      await expectStillRefreshes(h);
    });

    it('add refuses a duplicate name, a wrong client secret and two stdin secrets without spending the token', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      await h.addConnection('me');
      const seed = h.seed({ userId: 'USER02' });
      const requests = h.sim.stats.tokenRequests;

      const duplicate = await h.cli(['add', 'me', '--provider', 'fitbit'], { stdin: seed.refreshToken });
      expectOneLineError(duplicate, 2, /connection "me" already exists/);
      expect(h.sim.stats.tokenRequests).toBe(requests);

      const twoStdin = await h.cli(['add', 'x', '--provider', 'fitbit', '--client-secret', '-'], {
        stdin: seed.refreshToken,
      });
      expectOneLineError(twoStdin, 2, /only one secret can be read from standard input/);

      const wrongSecret = await h.cli(
        ['add', 'other', '--provider', 'fitbit', '--client-secret', 'env:WRONG'],
        {
          stdin: seed.refreshToken,
          env: { WRONG: 'not-the-client-secret' },
        },
      );
      expect(wrongSecret.code).toBe(2);
      expect(humanLines(wrongSecret.stderr)).toEqual([
        expect.stringMatching(
          /rejected the client credentials.*check the client id and secret — nothing was saved$/,
        ),
      ]);

      // The provider never accepted the token, so it is still the user's live refresh token; the store is as before.
      expect(h.sim.activeRefreshToken('USER02')).toBe(seed.refreshToken);
      expect((await statusJson(h)).map((c) => [c.name, c.status])).toEqual([['me', 'active']]);
      expectSuccess(await h.cli(['add', 'other', '--provider', 'fitbit'], { stdin: seed.refreshToken }));
      await expectStillRefreshes(h);
    });

    it('a wrong encryption key → exit 5; the right key still works', async ({ onTestFinished }) => {
      const h = await createHarness(onTestFinished);
      const keyA = randomBytes(32).toString('hex');
      const keyB = randomBytes(32).toString('base64url');
      const seed = h.seed();
      expectSuccess(
        await h.cli(['add', 'me', '--provider', 'fitbit'], {
          stdin: seed.refreshToken,
          env: { TOKENKEEPER_KEY: keyA },
        }),
      );

      const wrong = await h.cli(['status'], { env: { TOKENKEEPER_KEY: keyB } });
      expectOneLineError(wrong, 5, /key/);
      expect(wrong.stderr).not.toContain(keyA);
      expect(wrong.stderr).not.toContain(keyB);
      const wrongRefresh = await h.cli(['refresh', 'me', '--force'], { env: { TOKENKEEPER_KEY: keyB } });
      expect(wrongRefresh.code).toBe(5);
      const noKey = await h.cli(['status']); // falls back to a (new) key file: also the wrong key
      expect(noKey.code).toBe(5);
      const malformed = await h.cli(['status'], { env: { TOKENKEEPER_KEY: 'hunter2' } });
      expectOneLineError(malformed, 5, /TOKENKEEPER_KEY is not a valid key/);
      expect(malformed.stderr).not.toContain('hunter2');

      const before = h.sim.activeRefreshToken(DEFAULT_USER);
      expectSuccess(await h.cli(['refresh', 'me', '--force'], { env: { TOKENKEEPER_KEY: keyA } }));
      expect(h.sim.activeRefreshToken(DEFAULT_USER)).not.toBe(before);
      const [me] = await statusJson(h, { env: { TOKENKEEPER_KEY: keyA } });
      expect(me?.status).toBe('active');
    });

    it('a non-JSON provider response → exit 4; the connection works again once the provider recovers', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      await h.addConnection('me');
      const before = h.sim.activeRefreshToken(DEFAULT_USER);
      h.sim.inject({ kind: 'garbage' }, 3);

      const refresh = await h.cli(['refresh', 'me', '--force']);
      expect(refresh.code).toBe(4);
      expect(humanLines(refresh.stderr)).toEqual([
        expect.stringMatching(/^me: FAILED: .*not a JSON object.*retried with the same refresh token/),
      ]);
      expect(h.sim.stats.faultsServed).toBe(3);
      // The provider never processed the request, so the refresh token is unchanged and still valid.
      expect(h.sim.activeRefreshToken(DEFAULT_USER)).toBe(before);
      const [failing] = await statusJson(h);
      expect(failing).toMatchObject({ status: 'failing', failureCount: 3 });

      h.sim.clearFaults();
      await expectStillRefreshes(h);
      expect((await statusJson(h))[0]).toMatchObject({ status: 'active', failureCount: 0, lastError: null });
    });
  },
);
