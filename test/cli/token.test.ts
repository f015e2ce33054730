import { describe, expect, it } from 'vitest';
import {
  createHarness,
  DEFAULT_USER,
  expectSuccess,
  freePort,
  humanLines,
  lines,
  logRecords,
  providerConfig,
  statusJson,
  type Harness,
} from './harness.ts';
import type { CliResult } from './run-cli.ts';
import { api, createApiKey, startDaemon } from '../server/daemon.ts';

/** A config whose token endpoint is a port on 127.0.0.1 with nothing listening: the provider is down. */
async function providerDownConfig(h: Harness): Promise<string> {
  const tokenUrl = `http://127.0.0.1:${await freePort()}/oauth2/token`;
  return h.writeConfig({ providers: { fitbit: providerConfig(h.sim, { tokenUrl }) } }, 'provider-down.json');
}

/**
 * Runs `token` three times with the provider down. A run that stalls (the bug took 13.5 s) is killed at the
 * bound and fails; the durations are printed, and `npm run bench` measures them against a baseline.
 */
async function threeQuickRuns(run: (timeoutMs: number) => Promise<CliResult>): Promise<CliResult> {
  const results: CliResult[] = [];
  for (let i = 0; i < 3; i++) results.push(expectSuccess(await run(STALL_BOUND_MS)));
  console.log(`token with the provider down: ${results.map((r) => r.durationMs).join(', ')} ms`);
  return results[2]!;
}

const STALL_BOUND_MS = 6_000;

// Not concurrent: the stall bound should see tokenkeeper, not the other tests of this file.
describe('tokenkeeper token never stalls while a valid token exists', () => {
  it('provider down (connection refused), after a failed refresh --force: token answers without stalling', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const token = expectSuccess(await h.cli(['token', 'me'])).stdout;
    const down = await providerDownConfig(h);

    const refresh = await h.cli(['refresh', 'me', '--force'], { config: down });
    expect(refresh.code).toBe(4);
    expect(refresh.stdout).toBe('');
    expect(humanLines(refresh.stderr)).toEqual([
      expect.stringMatching(
        /^me: FAILED: cannot reach fitbit token endpoint .*ECONNREFUSED; nothing was spent; it will be retried in \d+ s by a running daemon/,
      ),
    ]);
    // Nothing was sent, so nothing is left pending as an unknown outcome.
    const [me] = await statusJson(h, { config: down });
    expect(me).toMatchObject({ status: 'failing', refreshInProgress: false, failureCount: 3 });

    const last = await threeQuickRuns((timeoutMs) => h.cli(['token', 'me'], { config: down, timeoutMs }));
    expect(last.stdout).toBe(token);
  });

  it('an unfinished attempt (outcome unknown) and the provider down: no stall, the attempt kept, recovered later', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { config: { refresh: { timeoutSeconds: 1 } } });
    await h.addConnection('me');
    const token = expectSuccess(await h.cli(['token', 'me'])).stdout;
    // The provider rotates, and its answer never arrives.
    h.sim.inject({ kind: 'rotate-then-hang' }, 3);
    const lost = await h.cli(['refresh', 'me', '--force']);
    expect(lost.code).toBe(4);
    expect(humanLines(lost.stderr)).toEqual([
      expect.stringMatching(
        /^me: FAILED: .*did not answer within 1000 ms; the provider may have rotated the refresh token, so the attempt is kept and retried with the same refresh token in \d+ s by a running daemon \(`tokenkeeper run`\), or by `tokenkeeper refresh me` within the provider's grace window$/,
      ),
    ]);
    h.sim.clearFaults();
    const down = await providerDownConfig(h);

    const last = await threeQuickRuns((timeoutMs) => h.cli(['token', 'me'], { config: down, timeoutMs }));
    expect(last.stdout).toBe(token);
    const [pending] = await statusJson(h, { config: down });
    expect(pending?.refreshInProgress).toBe(true);

    // The provider is back, within its grace window: the same refresh token brings the rotated tokens.
    const replays = h.sim.stats.graceReplays;
    const recovered = expectSuccess(await h.cli(['token', 'me']));
    expect(h.sim.stats.graceReplays).toBe(replays + 1);
    expect(h.sim.stats.invalidGrant).toBe(0);
    expect(recovered.stdout).not.toBe(token);
    const [me] = await statusJson(h);
    expect(me).toMatchObject({ status: 'active', refreshInProgress: false });
    expectSuccess(await h.cli(['refresh', 'me', '--force']));
    expect(h.sim.stats.invalidGrant).toBe(0);
  });

  it('the daemon API answers GET /v1/connections/me/token without stalling with the provider down and an attempt pending', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { config: { refresh: { timeoutSeconds: 1 } } });
    await h.addConnection('me');
    const token = expectSuccess(await h.cli(['token', 'me'])).stdout.trim();
    h.sim.inject({ kind: 'rotate-then-hang' }, 3);
    expect((await h.cli(['refresh', 'me', '--force'])).code).toBe(4);
    h.sim.clearFaults();
    const down = await providerDownConfig(h);
    const key = await createApiKey(h, ['me'], { config: down });
    const daemon = await startDaemon(h, [], { config: down });
    try {
      const answer = await api(`${daemon.url}/v1/connections/me/token`, {
        key,
        signal: AbortSignal.timeout(STALL_BOUND_MS),
      });

      expect(answer.status).toBe(200);
      expect(answer.body.accessToken).toBe(token);
    } finally {
      await daemon.stop();
    }
    const [me] = await statusJson(h, { config: down });
    expect(me?.refreshInProgress).toBe(true);
  });

  it('--timeout: a refresh token must make gives up at the deadline and says the attempt will be retried', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const seed = h.seed({ userId: DEFAULT_USER });
    expectSuccess(
      await h.cli(['add', 'me', '--provider', 'fitbit', '--no-verify'], { stdin: seed.refreshToken }),
    );
    h.sim.inject({ kind: 'hang' }, 5);

    // Without the deadline: 15 s per request, three requests; a run cut off at 10 s has no exit code 4.
    const result = await h.cli(['token', 'me', '--timeout', '1'], { timeoutMs: 10_000 });

    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(humanLines(result.stderr)).toEqual([
      expect.stringMatching(
        /^tokenkeeper: error: .*did not answer within \d+ ms.*attempt is kept and retried/,
      ),
    ]);
    expect(h.sim.stats.refreshRequests).toBe(1);
  });
});

describe.concurrent('tokenkeeper token --json, --min-valid', () => {
  it('--json prints token, type, expiresAt (ISO 8601), expiresIn (seconds) and scope', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const plain = expectSuccess(await h.cli(['token', 'me'])).stdout.trim();

    const json = JSON.parse(expectSuccess(await h.cli(['token', 'me', '--json'])).stdout) as Record<
      string,
      unknown
    >;

    expect(Object.keys(json)).toEqual(['token', 'type', 'expiresAt', 'expiresIn', 'scope']);
    expect(json).toMatchObject({ token: plain, type: 'Bearer', scope: 'activity heartrate profile sleep' });
    expect(json.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const [me] = await statusJson(h);
    expect(json.expiresAt).toBe(me?.expiresAt);
    expect(json.expiresIn).toBeGreaterThan(7.9 * 3600);
    expect(json.expiresIn).toBeLessThanOrEqual(8 * 3600);
  });

  it('--min-valid refreshes first when the token would expire sooner; bad values are one-line usage errors', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const first = expectSuccess(await h.cli(['token', 'me'])).stdout;
    const requests = h.sim.stats.refreshRequests;

    expect(expectSuccess(await h.cli(['token', 'me', '--min-valid', '3600'])).stdout).toBe(first);
    expect(h.sim.stats.refreshRequests).toBe(requests);

    const longer = expectSuccess(await h.cli(['token', 'me', '--min-valid', String(9 * 3600)]));
    expect(longer.stdout).not.toBe(first);
    expect(h.sim.stats.refreshRequests).toBe(requests + 1);

    for (const [flag, value] of [
      ['--min-valid', 'soon'],
      ['--min-valid', '-5'],
      ['--timeout', '0'],
      ['--timeout', ''],
    ] as const) {
      const bad = await h.cli(['token', 'me', flag, value]);
      expect(bad.code).toBe(2);
      expect(lines(bad.stderr)).toEqual([
        expect.stringMatching(
          new RegExp(`^tokenkeeper: error: ${flag} must be a (positive )?number of seconds`),
        ),
      ]);
    }
    expect(h.sim.stats.refreshRequests).toBe(requests + 1);
  });
});

describe.concurrent('help of the token, refresh and status options', () => {
  it('token, refresh and status --help describe their new flags and exit codes', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    // Help wraps at the terminal width: compare with the whitespace collapsed.
    const help = async (command: string) =>
      expectSuccess(await h.cli([command, '--help'])).stdout.replace(/\s+/g, ' ');
    const token = await help('token');
    expect(token).toContain(
      '--json print JSON: token, type, expiresAt (ISO 8601), expiresIn (seconds), scope',
    );
    expect(token).toContain('--min-valid <seconds> refresh first if the token would expire within');
    expect(token).toMatch(/--timeout <seconds> total deadline of a refresh needed first .*\(default: "30"\)/);
    const refresh = await help('refresh');
    expect(refresh).toContain('refreshed, not due, or FAILED (on stderr)');
    expect(refresh).toContain('outcome refreshed, not_due or failed');
    const status = await help('status');
    expect(status).toMatch(/^Usage: tokenkeeper status \[options\] \[name\]/);
    expect(status).toContain('exits 3 if any shown needs a human');
  });
});

describe.concurrent('tokenkeeper refresh says what it did', () => {
  it('refreshed, not due, FAILED (on stderr); --json carries the outcome', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');

    const notDue = expectSuccess(await h.cli(['refresh', 'me']));
    expect(notDue.stdout).toMatch(/^me: not due, access token valid for (?:7h 59m|8h 0m)\n$/);
    const forced = expectSuccess(await h.cli(['refresh', 'me', '--force']));
    expect(forced.stdout).toMatch(/^me: refreshed, access token valid for /);

    const mixed = await h.cli(['refresh', 'me', 'nobody']);
    expect(mixed.code).toBe(2);
    expect(lines(mixed.stdout)).toEqual([expect.stringMatching(/^me: not due/)]);
    expect(humanLines(mixed.stderr)).toEqual([
      'nobody: FAILED: no connection named "nobody": see `tokenkeeper status` for the names',
    ]);

    const json = await h.cli(['refresh', 'me', 'nobody', '--json']);
    expect(json.code).toBe(2);
    const results = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(results).toEqual([
      expect.objectContaining({ name: 'me', ok: true, outcome: 'not_due', status: 'active' }),
      { name: 'nobody', ok: false, outcome: 'failed', error: expect.stringMatching(/no connection named/) },
    ]);
    const forcedJson = JSON.parse(expectSuccess(await h.cli(['refresh', 'me', '--force', '--json'])).stdout);
    expect(forcedJson).toEqual([expect.objectContaining({ name: 'me', ok: true, outcome: 'refreshed' })]);
  });
});

describe.concurrent('tokenkeeper status [name] and its exit code', () => {
  it('exits 3 when a shown connection needs a human, 0 when all shown are healthy; unknown name → 2', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    await h.addConnection('partner', 'USER02');

    const healthy = expectSuccess(await h.cli(['status']));
    expect(lines(healthy.stdout)).toHaveLength(3);
    const one = expectSuccess(await h.cli(['status', 'partner']));
    expect(lines(one.stdout)).toEqual([expect.stringMatching(/^NAME/), expect.stringMatching(/^partner /)]);
    const oneJson = JSON.parse(expectSuccess(await h.cli(['status', 'partner', '--json'])).stdout);
    expect(oneJson).toEqual([expect.objectContaining({ name: 'partner', status: 'active' })]);

    h.seed({ userId: 'USER02' }); // the partner connected again elsewhere: our refresh token is dead
    expect((await h.cli(['refresh', 'partner', '--force'])).code).toBe(3);

    const all = await h.cli(['status']);
    expect(all.code).toBe(3);
    expect(all.stdout).toMatch(/^partner .*needs_reauth/m);
    const json = await h.cli(['status', '--json']);
    expect(json.code).toBe(3);
    const rows = JSON.parse(json.stdout) as Array<{ name: string; status: string }>;
    expect(rows.map((row) => [row.name, row.status])).toEqual([
      ['me', 'active'],
      ['partner', 'needs_reauth'],
    ]);
    expect((await h.cli(['status', 'partner'])).code).toBe(3);
    expectSuccess(await h.cli(['status', 'me']));

    const unknown = await h.cli(['status', 'nobody']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(lines(unknown.stderr)).toEqual([
      'tokenkeeper: error: no connection named "nobody": run `tokenkeeper status` for the names',
    ]);
  });
});

describe.concurrent('tokenkeeper add prints each error once', () => {
  it('a provider outage during the verifying refresh: one line, no log lines repeating it', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const seed = h.seed({ userId: DEFAULT_USER });
    h.sim.inject({ kind: 'status', status: 503 }, 3);

    const result = await h.cli(['add', 'me', '--provider', 'fitbit'], { stdin: seed.refreshToken });

    expect(result.code).toBe(4);
    expect(logRecords(result.stderr)).toEqual([]);
    expect(lines(result.stderr)).toEqual([
      expect.stringMatching(
        /^tokenkeeper: error: me: imported, but the first refresh failed: fitbit token endpoint failed with HTTP 503 .*retried with the same refresh token/,
      ),
    ]);
    expect(result.stderr.match(/failed with HTTP 503/g)).toHaveLength(1);
  });
});
