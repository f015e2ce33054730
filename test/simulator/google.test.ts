import { afterEach, describe, expect, it } from 'vitest';
import { createPkcePair, startSimulatedGoogle } from './index.ts';
import type { GoogleSimulatorOptions, SimulatedGoogle } from './index.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const SCOPE = 'https://www.googleapis.com/auth/googlehealth.sleep';
const CLIENT_ID = 'demo-client.apps.googleusercontent.com';
const START = Date.UTC(2026, 0, 1);
const DAY_MS = 24 * 3_600_000;

let clock = START;
const running: SimulatedGoogle[] = [];

async function start(options: GoogleSimulatorOptions = {}): Promise<SimulatedGoogle> {
  clock = START;
  const provider = await startSimulatedGoogle({ now: () => clock, userId: '111', ...options });
  running.push(provider);
  return provider;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((provider) => provider.close()));
});

interface TokenBody {
  access_token: string;
  expires_in: number;
  scope: string;
  token_type: string;
  refresh_token?: string;
}

function postToken(
  provider: SimulatedGoogle,
  params: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return fetch(provider.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  });
}

const withSecret = (params: Record<string, string>) => ({
  ...params,
  client_id: CLIENT_ID,
  client_secret: 'demo-secret',
});

const refresh = (provider: SimulatedGoogle, refreshToken: string) =>
  postToken(provider, withSecret({ grant_type: 'refresh_token', refresh_token: refreshToken }));

async function connect(provider: SimulatedGoogle, query: Record<string, string>): Promise<TokenBody> {
  const pkce = createPkcePair();
  const url = new URL(provider.authorizeUrl);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: SCOPE,
    state: 'xyz',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...query,
  }).toString();
  const consent = await fetch(url, { redirect: 'manual' });
  expect(consent.status).toBe(302);
  const location = new URL(consent.headers.get('location') ?? '');
  expect(location.searchParams.get('state')).toBe('xyz');
  const code = location.searchParams.get('code') ?? '';
  const exchange = await postToken(
    provider,
    withSecret({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: pkce.verifier,
    }),
  );
  expect(exchange.status).toBe(200);
  return (await exchange.json()) as TokenBody;
}

describe('simulated Google OAuth', () => {
  it('issues a refresh token for offline access and never a new one on refresh', async () => {
    const provider = await start();
    const tokens = await connect(provider, { access_type: 'offline', prompt: 'consent' });
    expect(tokens).toEqual({
      access_token: expect.stringMatching(/^ya29\./),
      expires_in: 3600,
      scope: SCOPE,
      token_type: 'Bearer',
      refresh_token: expect.stringMatching(/^1\/\//),
    });
    const refreshToken = tokens.refresh_token ?? '';
    for (let i = 0; i < 2; i++) {
      const response = await refresh(provider, refreshToken);
      expect(response.status).toBe(200);
      const body = (await response.json()) as TokenBody;
      expect(body.refresh_token).toBeUndefined();
      expect(body.access_token).not.toBe(tokens.access_token);
    }
    expect(provider.activeRefreshToken('111')).toBe(refreshToken);
    expect(provider.stats).toMatchObject({ codeExchanges: 1, refreshRequests: 2, refreshSuccesses: 2 });
  });

  it('announces refresh_token_expires_in with the refresh token it issues when told to, and only then', async () => {
    const provider = await start({ refreshTokenExpiresInSeconds: 604_800 });
    const tokens = await connect(provider, { access_type: 'offline', prompt: 'consent' });
    expect(tokens).toMatchObject({ refresh_token: expect.any(String), refresh_token_expires_in: 604_800 });
    const refreshed = (await (await refresh(provider, tokens.refresh_token ?? '')).json()) as TokenBody;
    expect(refreshed.refresh_token).toBeUndefined();
    expect(refreshed).not.toHaveProperty('refresh_token_expires_in');
  });

  it('omits the refresh token without access_type=offline, or on re-consent without prompt=consent', async () => {
    const provider = await start();
    expect((await connect(provider, {})).refresh_token).toBeUndefined();
    const first = await connect(provider, { access_type: 'offline' });
    expect(first.refresh_token).toBeDefined();
    expect((await connect(provider, { access_type: 'offline' })).refresh_token).toBeUndefined();
    const forced = await connect(provider, { access_type: 'offline', prompt: 'consent' });
    expect(forced.refresh_token).toBeDefined();
    expect(forced.refresh_token).not.toBe(first.refresh_token);
  });

  it('accepts client credentials in the body or a Basic header; rejects others with 401 invalid_client', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    const params = { grant_type: 'refresh_token', refresh_token: refreshToken };
    const basic = (secret: string) => ({
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${secret}`).toString('base64')}`,
    });
    expect((await postToken(provider, params, basic('demo-secret'))).status).toBe(200);
    expect((await refresh(provider, refreshToken)).status).toBe(200);

    const wrongSecret = await postToken(provider, params, basic('nope'));
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toEqual({ error: 'invalid_client', error_description: 'Unauthorized' });
    const noSecret = await postToken(provider, { ...params, client_id: CLIENT_ID });
    expect(noSecret.status).toBe(401);
    const unknownClient = await postToken(provider, {
      ...params,
      client_id: 'other',
      client_secret: 'demo-secret',
    });
    expect(await unknownClient.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('answers RFC 6749 invalid_grant for unknown, revoked and Testing-app-expired refresh tokens', async () => {
    const provider = await start({ testingAppRefreshTokenLifetimeMs: 7 * DAY_MS });
    const unknown = await refresh(provider, '1//unknown');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Token has been expired or revoked.',
    });

    const aging = provider.seedGrant();
    clock += 7 * DAY_MS - 1;
    expect((await refresh(provider, aging.refreshToken)).status).toBe(200);
    clock += 1;
    expect((await refresh(provider, aging.refreshToken)).status).toBe(400);
    expect(provider.activeRefreshToken('111')).toBeUndefined();
    expect(provider.stats.invalidGrant).toBe(2);
  });

  it('revokes the grant behind an access token; unknown tokens get 400 invalid_token', async () => {
    const provider = await start();
    const grant = provider.seedGrant();
    const revoke = (token: string) =>
      fetch(provider.revokeUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
    expect(
      (await fetch(provider.profileUrl, { headers: { authorization: `Bearer ${grant.accessToken}` } }))
        .status,
    ).toBe(200);
    expect((await revoke(grant.accessToken)).status).toBe(200);
    expect((await refresh(provider, grant.refreshToken)).status).toBe(400);
    expect(
      (await fetch(provider.profileUrl, { headers: { authorization: `Bearer ${grant.accessToken}` } }))
        .status,
    ).toBe(401);
    const again = await revoke(grant.refreshToken);
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_token' });
    expect(provider.stats.revocations).toBe(1);
  });

  it('expires access tokens after an hour and checks the PKCE verifier', async () => {
    const provider = await start();
    const { accessToken } = provider.seedGrant();
    clock += 3600_000;
    expect(
      (await fetch(provider.profileUrl, { headers: { authorization: `Bearer ${accessToken}` } })).status,
    ).toBe(401);

    const pkce = createPkcePair();
    const url = new URL(provider.authorizeUrl);
    url.search = new URLSearchParams({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: SCOPE,
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    }).toString();
    const location = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location') ?? '');
    const exchange = await postToken(
      provider,
      withSecret({
        grant_type: 'authorization_code',
        code: location.searchParams.get('code') ?? '',
        redirect_uri: REDIRECT_URI,
        code_verifier: createPkcePair().verifier,
      }),
    );
    expect(exchange.status).toBe(400);
    expect(await exchange.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Invalid code verifier.',
    });
  });

  it('keeps at most maxRefreshTokensPerUser refresh tokens, dropping the oldest', async () => {
    const provider = await start({ maxRefreshTokensPerUser: 2 });
    const [a, b, c] = [provider.seedGrant(), provider.seedGrant(), provider.seedGrant()];
    expect((await refresh(provider, a.refreshToken)).status).toBe(400);
    expect((await refresh(provider, b.refreshToken)).status).toBe(200);
    expect(provider.activeRefreshToken('111')).toBe(c.refreshToken);
  });

  it('serves injected faults with RFC 6749 shaped default bodies', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    provider.inject({ kind: 'status', status: 503 });
    provider.inject({ kind: 'rotate-then-status', status: 502 });
    provider.inject({ kind: 'reset' });
    const down = await refresh(provider, refreshToken);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: 'server_error' });
    expect((await refresh(provider, refreshToken)).status).toBe(502);
    await expect(refresh(provider, refreshToken)).rejects.toThrow();
    expect((await refresh(provider, refreshToken)).status).toBe(200);
    expect(provider.stats).toMatchObject({ faultsServed: 3, refreshSuccesses: 2, tokenRequests: 4 });
  });
});
