import { describe, expect, it } from 'vitest';
import { createHarness, DEFAULT_USER, expectSuccess, lines, providerConfig, statusJson } from './harness.ts';

describe.concurrent('tokenkeeper CLI: add, token, status, refresh, remove', () => {
  it('add reads the refresh token from stdin, verifies it and rotates it at the provider', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const seed = h.seed();
    const result = await h.cli(['add', 'me', '--provider', 'fitbit', '--refresh-token', '-'], {
      stdin: `${seed.refreshToken}\n`,
    });
    expectSuccess(result);
    expect(result.stdout).toMatch(/^me: imported and verified \(account USER01\)/);
    const active = h.sim.activeRefreshToken(seed.userId);
    expect(active).toBeDefined();
    expect(active).not.toBe(seed.refreshToken);
    expect(h.sim.stats.refreshSuccesses).toBe(1);

    const [connection] = await statusJson(h);
    expect(connection).toMatchObject({
      name: 'me',
      provider: 'fitbit',
      account: DEFAULT_USER,
      status: 'active',
    });
  });

  it('add accepts the seed\'s base64 "id:secret" via --basic-credentials env:NAME', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    // A config that names only the endpoints: the client id and secret can come only from --basic-credentials.
    const { clientId: _id, clientSecret: _secret, ...endpoints } = providerConfig(h.sim);
    const config = h.writeConfig({ providers: { fitbit: endpoints } }, 'endpoints-only.json');
    const seed = h.seed();
    const basic = Buffer.from(`${h.sim.clientId}:${h.sim.clientSecret}`).toString('base64');
    const result = await h.cli(
      [
        'add',
        'me',
        '--provider',
        'fitbit',
        '--basic-credentials',
        'env:FITBIT_CREDENTIALS',
        '--refresh-token',
        'env:FITBIT_REFRESH',
      ],
      { config, env: { FITBIT_CREDENTIALS: basic, FITBIT_REFRESH: seed.refreshToken } },
    );
    expectSuccess(result);
    expect(h.sim.activeRefreshToken(seed.userId)).not.toBe(seed.refreshToken);

    // The stored credentials keep working for later refreshes.
    expectSuccess(await h.cli(['refresh', 'me', '--force'], { config }));
    expect(h.sim.stats.refreshSuccesses).toBe(2);
  });

  it('token prints one line holding a working access token, and does not refresh again while it is valid', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const first = expectSuccess(await h.cli(['token', 'me']));
    expect(first.stdout).toMatch(/^\S+\n$/);
    const token = first.stdout.trim();
    const api = await fetch(h.sim.profileUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(api.status).toBe(200);
    await api.body?.cancel();

    const refreshes = h.sim.stats.refreshRequests;
    const second = expectSuccess(await h.cli(['token', 'me']));
    expect(second.stdout).toBe(first.stdout);
    expect(h.sim.stats.refreshRequests).toBe(refreshes);
  });

  it('status prints a table and valid JSON', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const empty = expectSuccess(await h.cli(['status']));
    expect(empty.stdout).toMatch(/No connections yet/);
    expect(JSON.parse(expectSuccess(await h.cli(['status', '--json'])).stdout)).toEqual([]);

    await h.addConnection('me');
    const table = lines(expectSuccess(await h.cli(['status'])).stdout);
    expect(table).toHaveLength(2);
    expect(table[0]).toMatch(
      /^NAME\s+PROVIDER\s+ACCOUNT\s+STATUS\s+EXPIRES IN\s+RT EXPIRES IN\s+LAST REFRESH\s+LAST ERROR$/,
    );
    // Fitbit's refresh tokens do not expire by time: "-".
    expect(table[1]).toMatch(/^me\s+fitbit\s+USER01\s+active\s+(?:7h 59m|8h 0m)\s+-\s+\d+s ago\s+-$/);

    const json = await statusJson(h);
    expect(json).toHaveLength(1);
    const [me] = json;
    expect(me).toMatchObject({
      name: 'me',
      provider: 'fitbit',
      account: DEFAULT_USER,
      status: 'active',
      lastError: null,
      failureCount: 0,
      refreshInProgress: false,
    });
    const expiresIn = Date.parse(me?.expiresAt ?? '') - Date.now();
    expect(expiresIn).toBeGreaterThan(7.9 * 3600_000);
    expect(expiresIn).toBeLessThanOrEqual(8 * 3600_000);
    expect(Date.parse(me?.nextRefreshAt ?? '')).toBeLessThan(Date.parse(me?.expiresAt ?? ''));
    expect(Number.isNaN(Date.parse(me?.lastRefreshAt ?? ''))).toBe(false);
    expect(me?.scope).toBe('activity heartrate profile sleep');
  });

  it('refresh --force rotates; refresh --all covers every connection; refresh alone is a usage error', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    await h.addConnection('partner', 'USER02');

    const before = h.sim.activeRefreshToken(DEFAULT_USER);
    const forced = expectSuccess(await h.cli(['refresh', 'me', '--force']));
    expect(forced.stdout).toMatch(/^me: refreshed, access token valid for (?:7h 59m|8h 0m)\n$/);
    expect(h.sim.activeRefreshToken(DEFAULT_USER)).not.toBe(before);

    // Nothing is due (8 h tokens): --all answers for both without calling the provider.
    const requests = h.sim.stats.refreshRequests;
    const all = expectSuccess(await h.cli(['refresh', '--all']));
    expect(lines(all.stdout).sort()).toEqual([
      expect.stringMatching(/^me: not due, access token valid for /),
      expect.stringMatching(/^partner: not due, access token valid for /),
    ]);
    expect(h.sim.stats.refreshRequests).toBe(requests);

    const partnerBefore = h.sim.activeRefreshToken('USER02');
    const allForced = expectSuccess(await h.cli(['refresh', '--all', '--force', '--json']));
    const results = JSON.parse(allForced.stdout) as Array<{
      name: string;
      ok: boolean;
      status: string;
      outcome: string;
    }>;
    expect(results.map((r) => [r.name, r.ok, r.status, r.outcome]).sort()).toEqual([
      ['me', true, 'active', 'refreshed'],
      ['partner', true, 'active', 'refreshed'],
    ]);
    expect(h.sim.stats.refreshRequests).toBe(requests + 2);
    expect(h.sim.activeRefreshToken('USER02')).not.toBe(partnerBefore);

    const none = await h.cli(['refresh']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/name the connections to refresh, or pass --all/);
    expect(lines(none.stderr)).toHaveLength(1);

    const unknown = await h.cli(['refresh', 'nobody']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/^nobody: FAILED: no connection named "nobody"/m);
  });

  it('remove --revoke revokes the tokens at the provider and deletes the connection', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    await h.addConnection('other', 'USER02');
    const result = expectSuccess(await h.cli(['remove', 'me', '--revoke', '--yes']));
    expect(result.stdout).toBe('me: removed (tokens revoked at the provider)\n');
    expect(h.sim.stats.revocations).toBe(1);
    expect(h.sim.activeRefreshToken(DEFAULT_USER)).toBeUndefined();
    expect((await statusJson(h)).map((c) => c.name)).toEqual(['other']);

    const plain = expectSuccess(await h.cli(['remove', 'other', '--yes']));
    expect(plain.stdout).toBe('other: removed\n');
    expect(h.sim.stats.revocations).toBe(1);
    expect(h.sim.activeRefreshToken('USER02')).toBeDefined();
    expect(await statusJson(h)).toEqual([]);

    const again = await h.cli(['remove', 'me']);
    expect(again.code).toBe(2);
    expect(lines(again.stderr)).toEqual(['tokenkeeper: error: no connection named "me"']);
  });
});
