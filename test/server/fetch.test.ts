import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createHarness, expectSuccess, providerConfig } from '../cli/harness.ts';

const HOUR = 3_600_000;

describe.concurrent('tokenkeeper fetch', () => {
  it("calls the provider's API with the connection's token and shows its rate-limit headers", async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const config = h.writeConfig({
      providers: { fitbit: providerConfig(h.sim, { apiBaseUrl: h.sim.apiUrl }) },
    });
    await h.addConnection('me');

    const result = expectSuccess(await h.cli(['fetch', 'me', '/1/user/-/profile.json'], { config }));
    expect(JSON.parse(result.stdout)).toEqual({
      user: { encodedId: 'USER01', displayName: 'Demo User', fullName: 'Demo User' },
    });
    expect(result.stderr).toMatch(/^200 OK http:\/\/127\.0\.0\.1:\d+\/1\/user\/-\/profile\.json$/m);
    expect(result.stderr).toMatch(/^ {2}fitbit-rate-limit-limit: 150$/m);
    expect(result.stderr).toMatch(/^ {2}fitbit-rate-limit-remaining: \d+$/m);
    expect(result.stderr).toMatch(/^ {2}fitbit-rate-limit-reset: \d+$/m);

    const forbidden = await h.cli(['fetch', 'me', '/1/user/SOMEONE/profile.json'], { config });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stdout).toMatch(/insufficient_permissions/);
    expect(forbidden.stderr).toMatch(/tokenkeeper: error: http:\/\/127\.0\.0\.1:\d+ answered 403 Forbidden/);

    // The token is never sent in the clear to a remote host.
    const plain = await h.cli(['fetch', 'me', 'http://api.example.com/1/user/-/profile.json'], { config });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/the URL http:\/\/api\.example\.com must use https/);
    const missing = await h.cli(['fetch', 'nope', '/x'], { config });
    expect(missing.code).toBe(2);
    for (const secret of h.secrets)
      expect(h.results.map((r) => r.stdout + r.stderr).join('\n')).not.toContain(secret);
  });

  it('refreshes and retries once when the provider says the access token expired', async ({
    onTestFinished,
  }) => {
    // The provider's clock runs 9 hours ahead of tokenkeeper's: the stored access token looks valid to
    // tokenkeeper but the provider answers 401 expired_token.
    let skew = 0;
    const h = await createHarness(onTestFinished, { sim: { now: () => Date.now() + skew } });
    const config = h.writeConfig({
      providers: { fitbit: providerConfig(h.sim, { apiBaseUrl: h.sim.apiUrl }) },
    });
    await h.addConnection('me');
    skew = 9 * HOUR;
    const refreshes = h.sim.stats.refreshSuccesses;

    const result = expectSuccess(await h.cli(['fetch', 'me', '/1/user/-/profile.json'], { config }));
    expect(JSON.parse(result.stdout)).toMatchObject({ user: { encodedId: 'USER01' } });
    expect(result.stderr).toMatch(
      /"msg":"the provider says the access token expired; refreshing and retrying once"/,
    );
    expect(h.sim.stats.refreshSuccesses).toBe(refreshes + 1);
    expect(h.sim.stats.apiRequests).toBe(2);
  });

  it('reports a connection the provider no longer accepts as needing re-authorisation', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { sim: { graceMs: 0 } });
    const config = h.writeConfig({
      providers: { fitbit: providerConfig(h.sim, { apiBaseUrl: h.sim.apiUrl }) },
    });
    await h.addConnection('me');
    h.seed({ userId: 'USER01' }); // connected elsewhere: both stored tokens are dead, and errors echo them

    const result = await h.cli(['fetch', 'me', '/1/user/-/profile.json'], { config });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/needs re-authorisation/);
    expect(h.sim.stats.apiRequests).toBe(1);
    h.snapshotSecrets();
    for (const secret of h.secrets) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it("sends the token only to the provider's API host unless --allow-host names another", async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const config = h.writeConfig({
      providers: { fitbit: providerConfig(h.sim, { apiBaseUrl: h.sim.apiUrl }) },
    });
    await h.addConnection('me');
    const seen: Array<string | undefined> = [];
    const stranger = createServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => stranger.close(() => resolve())));
    const strangerHost = `127.0.0.1:${(stranger.address() as AddressInfo).port}`;

    // A full URL on the provider's API host is fine.
    expectSuccess(await h.cli(['fetch', 'me', `${h.sim.apiUrl}/1/user/-/profile.json`], { config }));
    const refused = await h.cli(['fetch', 'me', `http://${strangerHost}/collect`], { config });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      new RegExp(
        `refusing to send the fitbit access token to ${strangerHost}: .*pass --allow-host ${strangerHost}`,
      ),
    );
    expect(seen).toEqual([]);
    // Another port of the same host is another service.
    const otherPort = await h.cli(
      ['fetch', 'me', `http://${strangerHost}/x`, '--allow-host', '127.0.0.1:1'],
      {
        config,
      },
    );
    expect(otherPort.code).toBe(2);
    expect(seen).toEqual([]);

    expectSuccess(
      await h.cli(['fetch', 'me', `http://${strangerHost}/collect`, '--allow-host', strangerHost], {
        config,
      }),
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^Bearer fa_/);
  });
});
