import { describe, expect, it } from 'vitest';
import { createHarness, DEFAULT_USER, expectSuccess, SIM_TOKEN_PATTERN, type Harness } from './harness.ts';
import type { CliResult } from './run-cli.ts';

/** Every place a secret could show up: stdout and stderr of every run, except stdout of `token` (its job). */
function exposures(h: Harness): Array<{ where: string; text: string }> {
  return h.results.flatMap((result: CliResult) => {
    const command = result.args.filter((arg) => !arg.startsWith('/')).join(' ');
    const isToken = result.args.includes('token');
    return [
      ...(isToken ? [] : [{ where: `stdout of ${command}`, text: result.stdout }]),
      { where: `stderr of ${command}`, text: result.stderr },
    ];
  });
}

/** Slices of `secret` long enough that finding one in output means (part of) the secret leaked. */
function fragments(secret: string, size = 16): string[] {
  if (secret.length <= size) return [secret];
  return Array.from({ length: secret.length - size + 1 }, (_, start) => secret.slice(start, start + size));
}

/** Every (partial) secret found in the output of the harness's runs, described without the secret itself. */
function findLeaks(h: Harness, extraSecrets: string[]): string[] {
  h.snapshotSecrets();
  const secrets = [...h.secrets, ...extraSecrets];
  const leaks: string[] = [];
  for (const { where, text } of exposures(h)) {
    for (const secret of secrets) {
      if (text.includes(secret)) leaks.push(`${where} contains secret ${secret.slice(0, 6)}…`);
      else if (fragments(secret).some((part) => text.includes(part)))
        leaks.push(`${where} contains part of secret ${secret.slice(0, 6)}…`);
    }
    // Any token the simulator ever issued (including ones this test never saw) looks like fa_… / fr_….
    for (const match of text.matchAll(SIM_TOKEN_PATTERN)) {
      leaks.push(`${where} contains token ${match[0].slice(0, 6)}…`);
    }
  }
  return leaks;
}

function expectNoSecrets(h: Harness, extraSecrets: string[]): void {
  expect(findLeaks(h, extraSecrets)).toEqual([]);
}

describe.concurrent('tokenkeeper CLI never prints secrets', () => {
  it('keeps refresh tokens, access tokens and client secrets out of every output, failures included', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const { sim } = h;
    const basic = Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64');
    const printed: string[] = [];

    // Imports: stdin, env refs, --basic-credentials, --json, and pretty logs at debug level.
    await h.addConnection('me');
    const partnerSeed = h.seed({ userId: 'USER02' });
    expectSuccess(
      await h.cli(
        [
          'add',
          'partner',
          '--provider',
          'fitbit',
          '--basic-credentials',
          'env:FITBIT_BASIC',
          '--refresh-token',
          '-',
          '--json',
        ],
        { stdin: partnerSeed.refreshToken, env: { FITBIT_BASIC: basic }, logLevel: 'debug' },
      ),
    );
    const thirdSeed = h.seed({ userId: 'USER03' });
    expectSuccess(
      await h.cli(['add', 'third', '--provider', 'fitbit', '--refresh-token', 'env:RT', '--no-verify'], {
        env: { RT: thirdSeed.refreshToken },
        logFormat: 'pretty',
        logLevel: 'debug',
      }),
    );

    // Healthy commands.
    for (const format of ['json', 'pretty'] as const) {
      expectSuccess(await h.cli(['status'], { logFormat: format, logLevel: 'debug' }));
      expectSuccess(await h.cli(['status', '--json'], { logFormat: format, logLevel: 'debug' }));
      expectSuccess(await h.cli(['refresh', 'me', '--force'], { logFormat: format, logLevel: 'debug' }));
      expectSuccess(
        await h.cli(['refresh', '--all', '--force', '--json'], { logFormat: format, logLevel: 'debug' }),
      );
      const token = expectSuccess(await h.cli(['token', 'me'], { logFormat: format, logLevel: 'debug' }));
      printed.push(token.stdout.trim());
    }
    expect(printed[0]).toMatch(/^fa_/);

    // A dead refresh token: the simulated Fitbit echoes it in its error ("Refresh token invalid: fr_…").
    h.seed({ userId: 'USER02' }); // replaces partner's tokens at the provider
    const dead = await h.cli(['refresh', 'partner', '--force'], { logLevel: 'debug' });
    expect(dead.code).toBe(3);
    expect(sim.stats.invalidGrant).toBe(1);
    h.seed({ userId: 'USER03' });
    const deadJson = await h.cli(['refresh', 'third', '--force', '--json'], {
      logFormat: 'pretty',
      logLevel: 'debug',
    });
    expect(deadJson.code).toBe(3);

    // An injected invalid_grant whose message echoes the refresh token being spent and the client secret.
    const spending = sim.activeRefreshToken(DEFAULT_USER) as string;
    sim.inject({
      kind: 'status',
      status: 400,
      body: {
        errors: [
          {
            errorType: 'invalid_grant',
            message: `Refresh token invalid: ${spending}. Client ${sim.clientId}:${sim.clientSecret}.`,
          },
        ],
        success: false,
      },
    });
    const injected = await h.cli(['refresh', 'me', '--force'], { logLevel: 'debug' });
    expect(injected.code).toBe(3);

    // Status after failures shows the (redacted) last errors.
    for (const format of ['json', 'pretty'] as const) {
      // Exit 3: connections that need a human are shown.
      const table = await h.cli(['status'], { logFormat: format, logLevel: 'debug' });
      expect(table.code).toBe(3);
      expect(table.stdout).toMatch(/needs_reauth/);
      const json = await h.cli(['status', '--json'], { logFormat: format, logLevel: 'debug' });
      expect(json.code).toBe(3);
      expect(json.stdout).toMatch(/Refresh token invalid: \[redacted\]/);
    }
    const token = await h.cli(['token', 'me'], { logLevel: 'debug' });
    expect(token.code).toBe(3);

    // Removal, with and without revocation.
    expectSuccess(await h.cli(['remove', 'partner', '--yes'], { logLevel: 'debug' }));
    expectSuccess(await h.cli(['remove', 'third', '--revoke', '--yes'], { logLevel: 'debug' }));

    expect(h.results.length).toBeGreaterThan(18);
    expectNoSecrets(h, [...printed, basic]);
  });

  it('keeps secrets out of the output of failed imports', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const { sim } = h;
    // A dead token: the provider's error echoes it; the import must fail and save nothing.
    const dead = h.seed({ userId: 'USER02' });
    h.seed({ userId: 'USER02' });
    const deadImport = await h.cli(['add', 'ghost', '--provider', 'fitbit'], {
      stdin: dead.refreshToken,
      logLevel: 'debug',
    });
    expect(deadImport.code).toBe(3);
    expect(deadImport.stderr).toMatch(/nothing was saved/);

    // A provider outage while importing, with the token echoed in the 503 body: imported, retried later.
    const fourth = h.seed({ userId: 'USER04' });
    sim.inject(
      {
        kind: 'status',
        status: 503,
        body: { errors: [{ errorType: 'system', message: `Busy with ${fourth.refreshToken}` }] },
      },
      3,
    );
    const unavailable = await h.cli(['add', 'fourth', '--provider', 'fitbit'], {
      stdin: fourth.refreshToken,
      logLevel: 'debug',
    });
    expect(unavailable.code).toBe(4);
    expect(unavailable.stderr).toMatch(/fourth: imported, but the first refresh failed/);

    expectSuccess(await h.cli(['status'], { logLevel: 'debug' }));
    const status = expectSuccess(await h.cli(['status', '--json'], { logLevel: 'debug' }));
    expect((JSON.parse(status.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['fourth']);
    expectSuccess(await h.cli(['remove', 'fourth', '--revoke', '--yes'], { logLevel: 'debug' }));
    expect(sim.stats.revocations).toBe(1);
    expectNoSecrets(h, []);
  });

  // Regression: the provider's message used to be truncated (200 characters) before secrets were scrubbed from
  // it, so a token straddling the cut was no longer matched and its first characters were printed.
  it('redacts a token echoed near the end of a long provider error message', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const spending = h.sim.activeRefreshToken(DEFAULT_USER) as string;
    h.sim.inject({
      kind: 'status',
      status: 400,
      body: {
        errors: [
          {
            errorType: 'invalid_grant',
            message: `${'The refresh token was rejected. '.repeat(5)}Token: ${spending}`,
          },
        ],
      },
    });
    const failed = await h.cli(['refresh', 'me', '--force']);
    expect(failed.code).toBe(3);
    const status = await h.cli(['status', '--json']);
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/Token: \[redacted\]/);
    expect((await h.cli(['token', 'me'])).code).toBe(3);
    expectNoSecrets(h, []);
  });
});
