import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { connectAccount } from '../../src/flows/connect-flow.ts';
import { requestToken, TokenEndpointError } from '../../src/oauth/token-client.ts';
import { KEY, stored } from './harness.ts';

/**
 * An independent check that does not rely on our own fakes: the generic provider (a user-defined
 * `"extends": "oauth2"` entry) against oidc-provider, a certified OpenID Connect / OAuth 2.0 server library,
 * started on loopback with PKCE required and refresh-token rotation on (reuse of a rotated token revokes the grant).
 */

const CLIENT_ID = 'tokenkeeper-test';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
const ACCOUNT = 'account-4711';
const REDIRECT_PORT_PATH = '/callback';

let server: Server;
let issuer: string;
let keeper: Keeper;
let dataDir: string;
let redirectUri: string;
const events: KeeperEvent[] = [];

/** Logs in and consents automatically, through oidc-provider's own interaction API. */
async function interact(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: ACCOUNT } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session?.accountId, clientId: details.params.client_id });
  if (!grant) throw new Error('grant not found');
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  await provider.interactionFinished(
    req,
    res,
    { consent: { grantId: await grant.save() } },
    { mergeWithLastSubmission: true },
  );
}

/** A "browser": follows redirects from the authorization URL with a cookie jar until it reaches the redirect URI. */
async function browse(start: string): Promise<void> {
  const cookies = new Map<string, string>();
  let url = start;
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') },
    });
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair && eq > 0) cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    await response.body?.cancel();
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) {
      throw new Error(`authorization stopped at ${url} with HTTP ${response.status}`);
    }
    const next = new URL(location, url);
    if (next.href.startsWith(redirectUri)) {
      await (await fetch(next)).text(); // deliver the code to tokenkeeper's loopback callback server
      return;
    }
    url = next.href;
  }
  throw new Error('too many redirects');
}

beforeAll(async () => {
  // The issuer URL names the port, so the server listens first and the provider is plugged in after.
  const holder: { provider?: Provider } = {};
  server = createServer((req, res) => {
    const { provider } = holder;
    if (!provider) return res.writeHead(503).end();
    if (req.method === 'GET' && req.url?.startsWith('/interaction/')) {
      interact(provider, req, res).catch((error: unknown) => res.writeHead(500).end(String(error)));
      return;
    }
    provider.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // A free loopback port for tokenkeeper's callback server: the redirect URI must be registered exactly.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const callbackPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  redirectUri = `http://127.0.0.1:${callbackPort}${REDIRECT_PORT_PATH}`;

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  holder.provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) =>
          token.clientId === client.clientId,
      },
    },
    ttl: {
      Interaction: 600,
      Session: 3600,
      Grant: 86_400,
      AccessToken: 3600,
      RefreshToken: 14 * 86_400,
      IdToken: 3600,
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    jwks: { keys: [{ ...signingKey, use: 'sig', kid: 'test' }] },
  });

  dataDir = await mkdtemp(join(tmpdir(), 'tokenkeeper-oidc-'));
  keeper = await createKeeper({
    config: {
      providers: {
        'my-idp': {
          extends: 'oauth2',
          displayName: 'oidc-provider on loopback',
          authorizationUrl: `${issuer}/auth`,
          tokenUrl: `${issuer}/token`,
          revokeUrl: `${issuer}/token/revocation`,
          // OpenID Connect issues a refresh token for offline_access only with prompt=consent.
          scopes: ['openid', 'offline_access'],
          extraAuthParams: { prompt: 'consent' },
          clientId: CLIENT_ID,
        },
      },
      refresh: { timeoutSeconds: 5 },
    },
    env: { TOKENKEEPER_HOME: dataDir, TOKENKEEPER_KEY: KEY },
  });
  keeper.onEvent((event) => events.push(event));
});

afterAll(async () => {
  await keeper?.close();
  await new Promise<void>((resolve) => {
    if (!server) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function connect(name: string): Promise<URL> {
  let authorizationUrl: URL | undefined;
  const summary = await connectAccount(keeper, {
    provider: 'my-idp',
    name,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    scopes: ['openid', 'offline_access'],
    redirectUri,
    timeoutMs: 10_000,
    presentAuthorizationUrl: async (url) => {
      authorizationUrl = new URL(url);
      await browse(url);
    },
  });
  expect(summary.status).toBe('active');
  return authorizationUrl as URL;
}

async function userinfo(accessToken: string): Promise<number> {
  const response = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  await response.body?.cancel();
  return response.status;
}

describe('generic oauth2 provider against oidc-provider (a real authorization server library)', () => {
  it('connects with authorization code + PKCE, then survives 50 rotating refreshes', async () => {
    const authorizationUrl = await connect('idp');
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizationUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const first = await stored(keeper, 'idp');
    expect(first.tokens.refreshToken).toBeTruthy();
    expect(first.tokens.scope?.split(' ')).toEqual(expect.arrayContaining(['openid', 'offline_access']));
    expect(await userinfo(first.tokens.accessToken as string)).toBe(200);

    const seen = new Set<string>([first.tokens.refreshToken as string]);
    const spent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const before = (await stored(keeper, 'idp')).tokens.refreshToken as string;
      const summary = await keeper.refresh('idp', { force: true });
      expect(summary).toMatchObject({ status: 'active', failureCount: 0, refreshInProgress: false });
      const after = (await stored(keeper, 'idp')).tokens.refreshToken as string;
      expect(after).not.toBe(before); // rotated every time, and the rotated one was saved
      expect(seen.has(after)).toBe(false);
      seen.add(after);
      spent.push(before);
    }
    const refreshed = events.filter((event) => event.type === 'refreshed' && event.name === 'idp');
    expect(refreshed).toHaveLength(50);
    expect(refreshed.every((event) => event.type === 'refreshed' && event.rotated)).toBe(true);
    expect(await userinfo(await keeper.accessToken('idp'))).toBe(200);

    // Reuse of a rotated refresh token: oidc-provider revokes the whole grant (RFC 9700 §4.14.2)...
    const replay = await requestToken({
      provider: keeper.providers.get('my-idp'),
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      params: { grant_type: 'refresh_token', refresh_token: spent[10] as string },
      timeoutMs: 5_000,
      maxBodyBytes: 65_536,
    }).catch((error: unknown) => error);
    expect(replay).toBeInstanceOf(TokenEndpointError);
    expect(replay).toMatchObject({ kind: 'invalid_grant', providerCode: 'invalid_grant' });
    // ...so the keeper's current token is dead too, and the keeper says a human must re-authorise.
    await expect(keeper.refresh('idp', { force: true })).rejects.toMatchObject({ code: 'needs_reauth' });
    expect((await keeper.get('idp'))?.status).toBe('needs_reauth');

    // Connecting again under the same name re-authorises it in place.
    await connect('idp');
    expect((await keeper.refresh('idp', { force: true })).status).toBe('active');
  });

  it('remove --revoke revokes the grant at the provider (RFC 7009)', async () => {
    await connect('to-remove');
    const { tokens } = await stored(keeper, 'to-remove');
    expect(await keeper.remove('to-remove', { revoke: true })).toEqual({ removed: true, revoked: true });
    const reuse = await requestToken({
      provider: keeper.providers.get('my-idp'),
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      params: { grant_type: 'refresh_token', refresh_token: tokens.refreshToken as string },
      timeoutMs: 5_000,
      maxBodyBytes: 65_536,
    }).catch((error: unknown) => error);
    expect(reuse).toMatchObject({ kind: 'invalid_grant' });
  });
});
