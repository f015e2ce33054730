import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiKeyStore, apiKeyStorePath } from '../../src/api-keys/api-key-store.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { buildServer } from '../../src/server/app.ts';
import { RefreshHistory } from '../../src/server/history.ts';
import { DaemonMetrics } from '../../src/server/metrics.ts';
import { ReconnectFlows } from '../../src/server/reconnect.ts';
import { pageAccessFor } from '../../src/server/operator-auth.ts';
import { providerConfig, type OnFinished } from '../cli/harness.ts';
import { consentUrlOf } from './operator.ts';
import { startSimulatedFitbit } from '../fakes/index.ts';

const METRICS_TOKEN = `mt_${randomBytes(24).toString('base64url')}`;

interface Daemon {
  app: FastifyInstance;
  keeper: Keeper;
  apiKeys: ApiKeyStore;
  host: string;
  authorizeUrl: string;
  /** The stored connection, secrets included, to prove nothing changed. */
  stored(): Promise<unknown>;
}

/** The daemon's real server, in process (fastify inject, no socket), as `run` would compose it for `listen`. */
async function daemonServer(
  onFinished: OnFinished,
  listen: 'loopback' | 'network',
  extra: { metricsToken?: string; loginRequired?: boolean } = {},
): Promise<Daemon> {
  const sim = await startSimulatedFitbit({ userId: 'USER01' });
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-pages-'));
  const keeper = await createKeeper({
    config: { connect: { port: 0 }, providers: { fitbit: providerConfig(sim) } },
    env: { TOKENKEEPER_HOME: home, FITBIT_SECRET: sim.clientSecret },
  });
  const seeded = sim.seedGrant({ userId: 'USER01' });
  await keeper.addConnection({
    name: 'me',
    provider: 'fitbit',
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    tokens: {
      accessToken: seeded.accessToken,
      refreshToken: seeded.refreshToken,
      expiresAt: Date.now() + seeded.expiresIn * 1000,
      providerUserId: 'USER01',
      scope: seeded.scope,
    },
  });
  const apiKeys = ApiKeyStore.open(apiKeyStorePath(home));
  const reconnects = new ReconnectFlows(keeper, silentLogger, undefined, () => undefined);
  const loopback = listen === 'loopback';
  const app = await buildServer({
    keeper,
    apiKeys,
    metrics: new DaemonMetrics(keeper),
    history: new RefreshHistory(),
    reconnects,
    logger: silentLogger,
    pageAccess: pageAccessFor(loopback, extra.loginRequired),
    metricsToken: extra.metricsToken,
    loopbackHostsOnly: loopback,
  });
  onFinished(async () => {
    await reconnects.cancel();
    await app.close();
    apiKeys.close();
    await keeper.close();
    await sim.close();
    rmSync(home, { recursive: true, force: true });
  });
  return {
    app,
    keeper,
    apiKeys,
    host: loopback ? '127.0.0.1:8977' : 'tokens.example.net:8977',
    authorizeUrl: sim.authorizeUrl,
    stored: () => keeper.store.get('me'),
  };
}

type Credential = 'none' | 'wrong' | 'session without CSRF' | 'session with CSRF';

/** Headers and form body a request carries for each credential of the matrix. */
interface Credentials {
  headers: Record<string, string>;
  csrf?: string;
}

async function credentialsFor(d: Daemon, credential: Credential): Promise<Credentials> {
  if (credential === 'none') return { headers: {}, csrf: undefined };
  if (credential === 'wrong') {
    // A forged session cookie, and an API key: API keys are for /v1, never for the pages.
    const key = d.apiKeys.create({ scopes: ['*'] }).key;
    return {
      headers: {
        cookie: `tokenkeeper_session=${randomBytes(32).toString('base64url')}`,
        authorization: `Bearer ${key}`,
      },
      csrf: randomBytes(32).toString('base64url'),
    };
  }
  const { ticket } = d.apiKeys.issueLoginTicket(60_000);
  const login = await d.app.inject({ url: `/login?ticket=${ticket}`, headers: { host: d.host } });
  expect(login.statusCode).toBe(303);
  const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
  const page = await d.app.inject({ url: '/', headers: { host: d.host, cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
  expect(csrf).toBeDefined();
  return { headers: { cookie }, csrf: credential === 'session with CSRF' ? csrf : undefined };
}

function post(d: Daemon, url: string, creds: Credentials) {
  return d.app.inject({
    method: 'POST',
    url,
    headers: { host: d.host, 'content-type': 'application/x-www-form-urlencoded', ...creds.headers },
    payload: creds.csrf === undefined ? '' : new URLSearchParams({ csrf: creds.csrf }).toString(),
  });
}

const credentials: Credential[] = ['none', 'wrong', 'session without CSRF', 'session with CSRF'];

describe.concurrent('status page and actions: who may do what', () => {
  for (const listen of ['loopback', 'network'] as const) {
    for (const credential of credentials) {
      it(`${listen} listen, ${credential}`, async ({ onTestFinished }) => {
        const d = await daemonServer(onTestFinished, listen);
        const before = await d.stored();
        const creds = await credentialsFor(d, credential);
        const session = credential.startsWith('session');
        const get = (url: string) => d.app.inject({ url, headers: { host: d.host, ...creds.headers } });

        // Read-only pages: open on loopback, an operator session off it.
        const readable = listen === 'loopback' || session;
        const page = await get('/');
        expect(page.statusCode).toBe(readable ? 200 : 401);
        expect(page.body.includes('data-connection="me"')).toBe(readable);
        expect((await get('/metrics')).statusCode).toBe(readable ? 200 : 401);
        for (const open of ['/healthz', '/readyz', '/openapi.json'])
          expect((await get(open)).statusCode).toBe(200);

        // The page offers actions (forms with the CSRF token) to a logged-in operator only.
        if (readable) expect(/name="csrf"/.test(page.body)).toBe(session);

        // GET never starts a consent flow, whatever it carries: an operator gets the confirmation page.
        const viaGet = await d.app.inject({
          url: '/connections/me/reconnect',
          headers: { host: d.host, 'sec-fetch-site': 'same-origin', ...creds.headers },
        });
        expect(viaGet.statusCode).toBe(session ? 200 : 401);
        expect(consentUrlOf(viaGet.body)).toBeUndefined();
        expect(viaGet.body).not.toMatch(/state=/);

        const started = await post(d, '/connections/me/reconnect', creds);
        if (credential === 'session with CSRF') {
          expect(started.statusCode).toBe(200);
          expect(consentUrlOf(started.body)).toMatch(new RegExp(`^${d.authorizeUrl}\\?.*state=`));
          // The same operator may cancel it; the cancel needs the token too.
          expect(
            (await post(d, '/connections/me/reconnect/cancel', { ...creds, csrf: undefined })).statusCode,
          ).toBe(403);
          const cancelled = await post(d, '/connections/me/reconnect/cancel', creds);
          expect(cancelled.statusCode).toBe(303);
          expect(cancelled.headers.location).toBe('/');
          // A cross-site form with a stolen token is still refused by Fetch Metadata.
          const crossSite = await d.app.inject({
            method: 'POST',
            url: '/connections/me/reconnect',
            headers: {
              host: d.host,
              'content-type': 'application/x-www-form-urlencoded',
              'sec-fetch-site': 'cross-site',
              ...creds.headers,
            },
            payload: new URLSearchParams({ csrf: creds.csrf as string }).toString(),
          });
          expect(crossSite.statusCode).toBe(403);
        } else {
          expect(started.statusCode).toBe(session ? 403 : 401);
          expect(started.headers.location).toBeUndefined();
          expect(consentUrlOf(started.body)).toBeUndefined();
          expect(started.body).not.toMatch(/state=/);
          const cancel = await post(d, '/connections/me/reconnect/cancel', creds);
          expect(cancel.statusCode).toBe(session ? 403 : 401);
          expect((await post(d, '/logout', creds)).statusCode).toBe(session ? 403 : 401);
        }
        expect(await d.stored()).toEqual(before);
      });
    }
  }

  it('the reconnect link of a message: a confirmation for an operator, the login page for anyone else', async ({
    onTestFinished,
  }) => {
    const d = await daemonServer(onTestFinished, 'network');
    const before = await d.stored();
    const open = (url: string, headers: Record<string, string> = {}) =>
      d.app.inject({ url, headers: { host: d.host, 'sec-fetch-site': 'cross-site', ...headers } });

    // Not logged in (or a forged session): a page that opens the link again from this site, and then the status
    // page's login page; the same whether the connection exists.
    const loginPage = await open('/');
    const reopened = (body: string) => /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(body)?.[1];
    for (const headers of [{}, (await credentialsFor(d, 'wrong')).headers]) {
      for (const name of ['me', 'nobody']) {
        const first = await open(`/connections/${name}/reconnect`, headers);
        expect(first.statusCode, name).toBe(401);
        expect(reopened(first.body), name).toBe(`/connections/${name}/reconnect?via=self`);
        const answer = await open(`/connections/${name}/reconnect?via=self`, headers);
        expect(answer.statusCode, name).toBe(401);
        expect(answer.body, name).toBe(loginPage.body);
        expect(first.body + answer.body, name).not.toContain('fitbit');
      }
    }

    // An operator opening the link from a chat app: the browser leaves out the SameSite=Strict cookie on that
    // cross-site visit and sends it on the site's own reopening, which shows the connection and a Reconnect button.
    const creds = await credentialsFor(d, 'session with CSRF');
    const crossSite = await open('/connections/me/reconnect');
    const page = await open(reopened(crossSite.body) as string, {
      ...creds.headers,
      'sec-fetch-site': 'same-origin',
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>Reconnect me</title>');
    expect(page.body).toContain('me (fitbit, account USER01) is active.');
    const form =
      /<form method="post" action="([^"]+)"[^>]*><input type="hidden" name="csrf" value="([^"]+)">/.exec(
        page.body,
      );
    expect(form?.[1]).toBe('/connections/me/reconnect');
    expect(form?.[2]).toBe(creds.csrf);
    expect(String(page.headers['content-security-policy'])).toMatch(/form-action 'self'/);
    expect(await d.stored()).toEqual(before); // opening it changed nothing

    // Pressing the button (a same-origin POST with the token) starts the consent flow.
    const started = await post(d, form?.[1] as string, creds);
    expect(started.statusCode).toBe(200);
    expect(consentUrlOf(started.body)).toMatch(new RegExp(`^${d.authorizeUrl}\\?.*state=`));
    const again = await open('/connections/me/reconnect', creds.headers);
    expect(again.body).toMatch(/A reconnect of this connection is under way/);

    // To an operator, an unknown name is simply not there.
    const unknown = await open('/connections/nobody/reconnect', creds.headers);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toMatch(/no connection named &quot;nobody&quot;/);
  });

  it('a metrics token lets Prometheus scrape, on loopback and off it; nothing else does', async ({
    onTestFinished,
  }) => {
    for (const listen of ['loopback', 'network'] as const) {
      const d = await daemonServer(onTestFinished, listen, { metricsToken: METRICS_TOKEN });
      const scrape = (authorization?: string) =>
        d.app.inject({ url: '/metrics', headers: { host: d.host, ...(authorization && { authorization }) } });
      expect((await scrape()).statusCode, listen).toBe(401);
      expect((await scrape(`Bearer ${METRICS_TOKEN}x`)).statusCode, listen).toBe(401);
      expect((await scrape(`Bearer ${d.apiKeys.create({ scopes: ['*'] }).key}`)).statusCode, listen).toBe(
        401,
      );
      const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
      expect(ok.statusCode, listen).toBe(200);
      expect(ok.body).toMatch(/tokenkeeper_/);
      // The token opens /metrics only.
      const page = await d.app.inject({
        url: '/',
        headers: { host: d.host, authorization: `Bearer ${METRICS_TOKEN}` },
      });
      expect(page.statusCode).toBe(listen === 'loopback' ? 200 : 401);
    }
  });

  it('loginRequired closes the read-only pages on loopback too', async ({ onTestFinished }) => {
    const d = await daemonServer(onTestFinished, 'loopback', { loginRequired: true });
    expect((await d.app.inject({ url: '/', headers: { host: d.host } })).statusCode).toBe(401);
    expect((await d.app.inject({ url: '/metrics', headers: { host: d.host } })).statusCode).toBe(401);
    const creds = await credentialsFor(d, 'session with CSRF');
    expect((await d.app.inject({ url: '/', headers: { host: d.host, ...creds.headers } })).statusCode).toBe(
      200,
    );
  });

  it('login tickets work once and expire; a logged-out session is gone', async ({ onTestFinished }) => {
    const d = await daemonServer(onTestFinished, 'network');
    const { ticket } = d.apiKeys.issueLoginTicket(60_000);
    const first = await d.app.inject({ url: `/login?ticket=${ticket}`, headers: { host: d.host } });
    expect(first.statusCode).toBe(303);
    expect(
      (await d.app.inject({ url: `/login?ticket=${ticket}`, headers: { host: d.host } })).statusCode,
    ).toBe(401);
    const expired = d.apiKeys.issueLoginTicket(-1).ticket;
    expect(
      (await d.app.inject({ url: `/login?ticket=${expired}`, headers: { host: d.host } })).statusCode,
    ).toBe(401);
    expect(
      (await d.app.inject({ url: '/login?ticket=tkl_forged', headers: { host: d.host } })).statusCode,
    ).toBe(401);

    const creds = await credentialsFor(d, 'session with CSRF');
    const out = await post(d, '/logout', creds);
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
    expect((await d.app.inject({ url: '/', headers: { host: d.host, ...creds.headers } })).statusCode).toBe(
      401,
    );
  });
});
