import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRunFlags } from '../../src/cli/commands/run.ts';
import { createHarness, expectSuccess } from '../cli/harness.ts';
import { openDaemonKeeper } from './in-process.ts';

type ErrorJson = { error: { code: string; message: string } };
type TokenJson = {
  connection: string;
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  expiresAt: string;
};

describe.concurrent('token API authentication and scope', () => {
  it('answers 401 without a valid key, 403 outside its scope, and a working access token inside it', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    await d.addConnection('other', 'USER02');
    const key = d.createApiKey(['me']);
    const daemon = await d.startDaemon();
    const { api } = daemon;
    const tokenUrl = (name: string) => `${daemon.url}/v1/connections/${name}/token`;

    const none = await api<ErrorJson>(tokenUrl('me'));
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthenticated');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);

    const tampered = `${key.slice(0, -3)}${key.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    for (const wrong of [tampered, 'tkk_000000000000_' + 'x'.repeat(43), 'not-a-key']) {
      const answer = await api<ErrorJson>(tokenUrl('me'), { key: wrong });
      expect(answer.status, wrong).toBe(401);
      expect(answer.body.error.code).toBe('invalid_api_key');
    }
    const basic = await api<ErrorJson>(tokenUrl('me'), { headers: { authorization: `Basic ${key}` } });
    expect(basic.status).toBe(401);

    for (const [method, path] of [
      ['GET', '/v1/connections/other/token'],
      ['GET', '/v1/connections/other'],
      ['POST', '/v1/connections/other/refresh'],
    ] as const) {
      const answer = await api<ErrorJson>(`${daemon.url}${path}`, { key, method });
      expect(answer.status, path).toBe(403);
      expect(answer.body.error).toMatchObject({ code: 'forbidden' });
      expect(answer.body.error.message).toContain('--scope other');
    }
    const refreshesBefore = h.sim.stats.refreshRequests;

    const ok = await api<TokenJson>(tokenUrl('me'), { key });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(ok.body).toMatchObject({ connection: 'me', tokenType: 'Bearer' });
    expect(ok.body.expiresIn).toBeGreaterThan(3600);
    expect(Date.parse(ok.body.expiresAt)).toBeGreaterThan(Date.now());
    expect(Object.keys(ok.body).sort()).toEqual(
      ['accessToken', 'connection', 'expiresAt', 'expiresIn', 'scope', 'tokenType'].sort(),
    );
    // Not due: served from the store, the provider was not asked.
    expect(h.sim.stats.refreshRequests).toBe(refreshesBefore);
    // The token really works at the provider…
    const profile = await fetch(h.sim.profileUrl, {
      headers: { authorization: `Bearer ${ok.body.accessToken}` },
    });
    expect(profile.status).toBe(200);
    // …and the refresh token and client secret never leave the keeper.
    h.snapshotSecrets();
    const refreshToken = h.sim.activeRefreshToken('USER01') as string;
    expect(ok.text).not.toContain(refreshToken);
    expect(ok.text).not.toContain(h.sim.clientSecret as string);

    const list = await api<{ connections: Array<{ name: string }> }>(`${daemon.url}/v1/connections`, { key });
    expect(list.status).toBe(200);
    expect(list.body.connections.map((c) => c.name)).toEqual(['me']);
    const one = await api<{ name: string; status: string; account: string }>(
      `${daemon.url}/v1/connections/me`,
      { key },
    );
    expect(one.body).toMatchObject({ name: 'me', status: 'active', account: 'USER01' });

    await daemon.stop();
  });

  it('refreshes on request, reports needs_reauth and unknown names clearly, and drops revoked keys at once', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { sim: { graceMs: 0 } });
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    await d.addConnection('dead', 'USER03');
    const key = d.createApiKey(['*']);
    const daemon = await d.startDaemon();
    const { api } = daemon;

    const before = h.sim.stats.refreshSuccesses;
    const oldToken = (await api<TokenJson>(`${daemon.url}/v1/connections/me/token`, { key })).body
      .accessToken;
    const refreshed = await api<{ name: string; status: string }>(`${daemon.url}/v1/connections/me/refresh`, {
      key,
      method: 'POST',
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toMatchObject({ name: 'me', status: 'active' });
    expect(refreshed.text).not.toMatch(/"(?:accessToken|refreshToken)"/);
    expect(h.sim.stats.refreshSuccesses).toBe(before + 1);
    const newToken = (await api<TokenJson>(`${daemon.url}/v1/connections/me/token`, { key })).body
      .accessToken;
    expect(newToken).not.toBe(oldToken);

    const missing = await api<ErrorJson>(`${daemon.url}/v1/connections/nope/token`, { key });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');

    h.seed({ userId: 'USER03' }); // the user connected elsewhere: the stored refresh token is dead
    const rejected = await api<ErrorJson>(`${daemon.url}/v1/connections/dead/refresh`, {
      key,
      method: 'POST',
    });
    expect(rejected.status).toBe(409);
    expect(rejected.body.error.code).toBe('needs_reauth');
    expect(rejected.body.error.message).toContain('tokenkeeper connect fitbit --name dead');
    const token = await api<ErrorJson>(`${daemon.url}/v1/connections/dead/token`, { key });
    expect(token.status).toBe(409);

    const unknownRoute = await api<ErrorJson>(`${daemon.url}/v1/nothing-here`, { key });
    expect(unknownRoute.status).toBe(404);

    const id = /^tkk_([0-9a-f]{12})_/.exec(key)?.[1] as string;
    expectSuccess(await h.cli(['api-key', 'revoke', id]));
    const afterRevoke = await api<ErrorJson>(`${daemon.url}/v1/connections/me/token`, { key });
    expect(afterRevoke.status).toBe(401);
    const listed = JSON.parse(expectSuccess(await h.cli(['api-key', 'list', '--json'])).stdout) as Array<{
      id: string;
      revokedAt: string | null;
      lastUsedAt: string | null;
    }>;
    expect(listed).toEqual([
      expect.objectContaining({ id, revokedAt: expect.any(String), lastUsedAt: expect.any(String) }),
    ]);

    await daemon.stop();
  });

  it('limits requests per API key', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished, {
      config: { server: { rateLimit: { max: 3, windowSeconds: 60 } } },
    });
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const first = d.createApiKey(['me']);
    const second = d.createApiKey(['me']);
    const daemon = await d.startDaemon();
    const { api } = daemon;
    const url = `${daemon.url}/v1/connections/me`;

    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await api(url, { key: first })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await api<ErrorJson>(url, { key: first });
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key has its own budget.
    expect((await api(url, { key: second })).status).toBe(200);
    // Health checks are not limited.
    expect((await api(`${daemon.url}/healthz`)).status).toBe(200);
    await daemon.stop();
  });
});

describe.concurrent('server surface', () => {
  it('serves health checks and an OpenAPI document that matches the routes', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const key = d.createApiKey(['me']);
    const daemon = await d.startDaemon();
    const { api } = daemon;

    expect((await api(`${daemon.url}/healthz`)).body).toEqual({ status: 'ok' });
    expect((await api(`${daemon.url}/readyz`)).body).toMatchObject({ status: 'ready', connections: 1 });

    const doc = await api<{
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown[] }>>;
      components: { securitySchemes: Record<string, { scheme: string }> };
    }>(`${daemon.url}/openapi.json`);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(doc.body.components.securitySchemes.apiKey?.scheme).toBe('bearer');
    const documented = Object.entries(doc.body.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({
        method: method.toUpperCase(),
        path: path.replace('{name}', 'me'),
      })),
    );
    expect(documented.map((d) => `${d.method} ${d.path}`).sort()).toEqual(
      [
        'GET /v1/connections',
        'GET /v1/connections/me',
        'GET /v1/connections/me/token',
        'POST /v1/connections/me/refresh',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
      ].sort(),
    );
    for (const route of documented) {
      const answer = await api(`${daemon.url}${route.path}`, { key, method: route.method });
      expect(answer.status, `${route.method} ${route.path}`).toBe(200);
    }

    // DNS rebinding: a page on another host name that resolves to 127.0.0.1 gets nothing.
    const rebound = await daemon.fetch(`${daemon.url}/`, { headers: { host: 'attacker.example' } });
    expect(rebound.status).toBe(421);
    expect((await api(`${daemon.url.replace('127.0.0.1', 'localhost')}/healthz`)).status).toBe(200);
    await daemon.stop();
  });

  it('serves HTTPS with --tls-cert/--tls-key', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const key = d.createApiKey(['me']);
    const cert = new URL('./fixtures/tls-cert.pem', import.meta.url).pathname;
    const tlsKey = new URL('./fixtures/tls-key.pem', import.meta.url).pathname;
    // A real TLS handshake on a real port: the flags as `run` parses them, then the daemon in this process.
    const daemon = await d.startDaemon(parseRunFlags({ server: true, tlsCert: cert, tlsKey }));
    expect(daemon.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const body = await new Promise<string>((resolve, reject) => {
      const request = httpsRequest(
        `${daemon.url}/v1/connections/me/token`,
        { ca: readFileSync(cert), headers: { authorization: `Bearer ${key}` } },
        (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          response.on('end', () => (response.statusCode === 200 ? resolve(text) : reject(new Error(text))));
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(JSON.parse(body)).toMatchObject({ connection: 'me', tokenType: 'Bearer' });
    await daemon.stop();
  });

  it('refuses half a TLS configuration and a port already taken; --no-server serves nothing', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const half = await h.cli(['run', '--listen', '127.0.0.1:0', '--tls-cert', '/nonexistent.pem']);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--tls-cert and --tls-key go together/);

    const daemon = await (await openDaemonKeeper(h, onTestFinished)).startDaemon();
    const port = new URL(daemon.url).port;
    const taken = await h.cli(['run', '--listen', `127.0.0.1:${port}`, '--duration', '5']);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}: the port is in use`));

    const quiet = expectSuccess(await h.cli(['run', '--no-server', '--duration', '0.5']));
    expect(quiet.stdout).toBe('ready\n');
    expect(quiet.stderr).not.toMatch(/"msg":"serving"/);
    expect(quiet.stderr).toMatch(/"msg":"tokenkeeper running"/);

    const bad = await h.cli(['run', '--listen', 'localhost']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--listen must be host:port/);
    await daemon.stop();
  });
});
