import { afterEach, describe, expect, it } from 'vitest';
import { createPkcePair, startSimulatedFitbit } from './index.ts';
import type { FitbitSimulatorOptions, SimulatedFitbit } from './index.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const START = Date.UTC(2026, 0, 1, 10, 0, 0);

let clock = START;
const running: SimulatedFitbit[] = [];

async function start(options: FitbitSimulatorOptions = {}): Promise<SimulatedFitbit> {
  clock = START;
  const provider = await startSimulatedFitbit({ now: () => clock, userId: 'ABC123', ...options });
  running.push(provider);
  return provider;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((provider) => provider.close()));
});

const basic = (id = 'demo-client', secret = 'demo-secret') =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function postToken(
  provider: SimulatedFitbit,
  params: Record<string, string>,
  init: { auth?: string | null; signal?: AbortSignal } = {},
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const auth = init.auth === undefined ? basic() : init.auth;
  if (auth) headers.authorization = auth;
  return fetch(provider.tokenUrl, {
    method: 'POST',
    headers,
    body: new URLSearchParams(params),
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

const refresh = (provider: SimulatedFitbit, refreshToken: string, init?: { signal?: AbortSignal }) =>
  postToken(provider, { grant_type: 'refresh_token', refresh_token: refreshToken }, init);

const profile = (provider: SimulatedFitbit, accessToken: string) =>
  fetch(provider.profileUrl, { headers: { authorization: `Bearer ${accessToken}` } });

interface TokenBody {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  scope: string;
  token_type: string;
  user_id: string;
}

async function authorize(provider: SimulatedFitbit, query: Record<string, string> = {}) {
  const pkce = createPkcePair();
  const url = new URL(provider.authorizeUrl);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: 'demo-client',
    redirect_uri: REDIRECT_URI,
    scope: 'activity profile',
    state: 'st4te',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...query,
  }).toString();
  const response = await fetch(url, { redirect: 'manual' });
  return { response, verifier: pkce.verifier };
}

describe('simulated Fitbit: authorization', () => {
  it('listens on loopback and runs authorize → code exchange with PKCE', async () => {
    const provider = await start();
    expect(provider.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { response, verifier } = await authorize(provider);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe('st4te');
    expect(location.hash).toBe('#_=_');
    const code = location.searchParams.get('code') ?? '';

    const params = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    };
    const exchange = await postToken(provider, params);
    expect(exchange.status).toBe(200);
    const body = (await exchange.json()) as TokenBody;
    expect(body).toEqual({
      access_token: expect.stringMatching(/^fa_/),
      refresh_token: expect.stringMatching(/^fr_/),
      expires_in: 28800,
      scope: 'activity profile',
      token_type: 'Bearer',
      user_id: 'ABC123',
    });
    expect(provider.activeRefreshToken('ABC123')).toBe(body.refresh_token);
    expect(provider.stats.codeExchanges).toBe(1);

    const me = await profile(provider, body.access_token);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({
      user: expect.objectContaining({ encodedId: 'ABC123', displayName: 'Demo User' }),
    });

    const reused = await postToken(provider, params);
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ errors: [{ errorType: 'invalid_grant' }], success: false });
  });

  it('rejects bad authorize requests with Fitbit error JSON', async () => {
    const provider = await start();
    const cases: Record<string, string>[] = [
      { client_id: 'someone-else' },
      { response_type: 'token' },
      { code_challenge: '' },
      { code_challenge_method: 'plain' },
      { scope: 'activity mindreading' },
    ];
    for (const query of cases) {
      const { response } = await authorize(provider, query);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        errors: [{ errorType: expect.any(String) }],
        success: false,
      });
    }
  });

  it('checks redirect_uri, the verifier and code expiry at exchange', async () => {
    const provider = await start();
    const exchange = async (overrides: Record<string, string>, advanceMs = 0) => {
      const { response, verifier } = await authorize(provider);
      const code = new URL(response.headers.get('location') ?? '').searchParams.get('code') ?? '';
      clock += advanceMs;
      const params = {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      };
      const answer = await postToken(provider, { ...params, ...overrides });
      return { status: answer.status, body: (await answer.json()) as { errors: { errorType: string }[] } };
    };
    expect(await exchange({ redirect_uri: 'http://127.0.0.1:9/other' })).toMatchObject({ status: 400 });
    expect(await exchange({ code_verifier: 'short' })).toMatchObject({ status: 400 });
    const wrongVerifier = await exchange({ code_verifier: createPkcePair().verifier });
    expect(wrongVerifier.body.errors[0]?.errorType).toBe('invalid_grant');
    const late = await exchange({}, 10 * 60_000 + 1);
    expect(late.body.errors[0]?.errorType).toBe('invalid_grant');
    expect((await exchange({})).status).toBe(200);
  });
});

describe('simulated Fitbit: refresh rotation and grace', () => {
  it('rotates: the old pair dies, the new one works', async () => {
    const provider = await start({ graceMs: 0 });
    const first = provider.seedGrant();
    clock += 1;
    const rotated = await refresh(provider, first.refreshToken);
    expect(rotated.status).toBe(200);
    const second = (await rotated.json()) as TokenBody;
    expect(second.refresh_token).not.toBe(first.refreshToken);
    expect(provider.activeRefreshToken(first.userId)).toBe(second.refresh_token);

    expect((await refresh(provider, first.refreshToken)).status).toBe(400);
    const oldAccess = await profile(provider, first.accessToken);
    expect(oldAccess.status).toBe(401);
    expect(await oldAccess.json()).toMatchObject({ errors: [{ errorType: 'invalid_token' }] });
    expect((await profile(provider, second.access_token)).status).toBe(200);
    expect(provider.stats).toMatchObject({ refreshRequests: 2, refreshSuccesses: 1, invalidGrant: 1 });
  });

  it('replays the identical pair for a repeated refresh within the grace window', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    const first = await (await refresh(provider, refreshToken)).json();
    clock += 119_000;
    const again = await refresh(provider, refreshToken);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(first);
    expect(provider.stats).toMatchObject({ refreshSuccesses: 1, graceReplays: 1 });
  });

  it('ends the grace once the new access token is used', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    const next = (await (await refresh(provider, refreshToken)).json()) as TokenBody;
    expect((await profile(provider, next.access_token)).status).toBe(200);
    expect((await refresh(provider, refreshToken)).status).toBe(400);
    expect(provider.activeRefreshToken('ABC123')).toBe(next.refresh_token);
  });

  it('ends the grace once the new refresh token is used, or after graceMs', async () => {
    const provider = await start();
    const a = provider.seedGrant();
    const b = (await (await refresh(provider, a.refreshToken)).json()) as TokenBody;
    expect((await refresh(provider, b.refresh_token)).status).toBe(200);
    expect((await refresh(provider, a.refreshToken)).status).toBe(400);

    const c = provider.seedGrant();
    await refresh(provider, c.refreshToken);
    clock += 120_001;
    expect((await refresh(provider, c.refreshToken)).status).toBe(400);
  });

  it('answers invalid_grant in Fitbit shape, echoing the token unless told not to', async () => {
    const provider = await start();
    const response = await refresh(provider, 'fr_unknown-token');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      errors: [
        {
          errorType: 'invalid_grant',
          message:
            'Refresh token invalid: fr_unknown-token. Visit https://dev.fitbit.com/docs/oauth2 for more information on the Fitbit Web API authorization process.',
        },
      ],
      success: false,
    });
    const quiet = await start({ echoTokenInErrors: false });
    const text = await (await refresh(quiet, 'fr_unknown-token')).text();
    expect(text).toContain('invalid_grant');
    expect(text).not.toContain('fr_unknown-token');
  });

  it('can revoke the active tokens when a spent refresh token is reused (revokeOnReuse)', async () => {
    const provider = await start({ revokeOnReuse: true, graceMs: 0 });
    const { refreshToken } = provider.seedGrant();
    const next = (await (await refresh(provider, refreshToken)).json()) as TokenBody;
    clock += 1;
    expect((await refresh(provider, refreshToken)).status).toBe(400);
    expect((await refresh(provider, next.refresh_token)).status).toBe(400);
    expect(provider.activeRefreshToken('ABC123')).toBeUndefined();
  });

  it('accepts the parameters in the query string with an empty body', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    const url = `${provider.tokenUrl}?grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(response.status).toBe(200);
    expect(provider.stats.requests.at(-1)).toMatchObject({
      path: '/oauth2/token',
      grantType: 'refresh_token',
    });
  });

  it('honours a shorter expires_in and expires access tokens on the clock', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    const response = await postToken(provider, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      expires_in: '3600',
    });
    const body = (await response.json()) as TokenBody;
    expect(body.expires_in).toBe(3600);
    clock += 3600_000;
    const expired = await profile(provider, body.access_token);
    expect(expired.status).toBe(401);
    expect(await expired.json()).toMatchObject({ errors: [{ errorType: 'expired_token' }] });
  });
});

describe('simulated Fitbit: client authentication and revocation', () => {
  it('requires Basic auth for server apps', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    for (const auth of [null, basic('demo-client', 'wrong'), 'Basic !!!']) {
      const response = await postToken(
        provider,
        { grant_type: 'refresh_token', refresh_token: refreshToken },
        { auth },
      );
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({
        errors: [{ errorType: 'invalid_client' }],
        success: false,
      });
    }
    expect(provider.activeRefreshToken('ABC123')).toBe(refreshToken);
  });

  it('requires client_id in the body for client apps', async () => {
    const provider = await start({ clientType: 'client' });
    expect(provider.clientSecret).toBeUndefined();
    const { refreshToken } = provider.seedGrant();
    const withoutId = await postToken(
      provider,
      { grant_type: 'refresh_token', refresh_token: refreshToken },
      { auth: null },
    );
    expect(withoutId.status).toBe(401);
    const params = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'demo-client' };
    expect((await postToken(provider, params, { auth: null })).status).toBe(200);
  });

  it('revokes all of the user tokens and answers 200 for unknown tokens', async () => {
    const provider = await start();
    const grant = provider.seedGrant();
    const revoke = (token: string) =>
      fetch(provider.revokeUrl, {
        method: 'POST',
        headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
    expect((await revoke(grant.accessToken)).status).toBe(200);
    expect((await refresh(provider, grant.refreshToken)).status).toBe(400);
    expect((await profile(provider, grant.accessToken)).status).toBe(401);
    expect((await revoke('never-issued')).status).toBe(200);
    expect(provider.stats.revocations).toBe(2);
  });
});

describe('simulated Fitbit: rate limits and retirement', () => {
  it('sends per-user rate-limit headers and answers 429 past the limit', async () => {
    const provider = await start({ rateLimitPerHour: 3 });
    clock = START + 15 * 60_000; // 10:15 → 45 minutes to the top of the hour
    const { accessToken } = provider.seedGrant();
    const first = await profile(provider, accessToken);
    expect(first.headers.get('fitbit-rate-limit-limit')).toBe('3');
    expect(first.headers.get('fitbit-rate-limit-remaining')).toBe('2');
    expect(first.headers.get('fitbit-rate-limit-reset')).toBe('2700');
    const other = provider.seedGrant({ userId: 'OTHER1' });
    const otherAnswer = await refresh(provider, other.refreshToken);
    expect(otherAnswer.headers.get('fitbit-rate-limit-remaining')).toBe('2');
    await profile(provider, accessToken);
    await profile(provider, accessToken);
    const limited = await profile(provider, accessToken);
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ errors: [{ errorType: 'system' }] });
    clock = START + 60 * 60_000;
    expect((await profile(provider, accessToken)).status).toBe(200);
  });

  it('answers 410 Gone everywhere when retired', async () => {
    const provider = await start({ retired: true });
    const { refreshToken, accessToken } = provider.seedGrant();
    expect((await refresh(provider, refreshToken)).status).toBe(410);
    expect((await profile(provider, accessToken)).status).toBe(410);
    expect((await authorize(provider)).response.status).toBe(410);
    provider.setRetired(false);
    expect((await refresh(provider, refreshToken)).status).toBe(200);
  });
});

describe('simulated Fitbit: faults', () => {
  it('serves status faults in FIFO order, only on the token endpoint, then behaves again', async () => {
    const provider = await start();
    const { refreshToken, accessToken } = provider.seedGrant();
    provider.inject({ kind: 'status', status: 429, headers: { 'retry-after': '2' } });
    provider.inject({ kind: 'status', status: 503, body: 'upstream down' }, 2);
    expect((await profile(provider, accessToken)).status).toBe(200);

    const limited = await refresh(provider, refreshToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.headers.get('fitbit-rate-limit-limit')).toBe('150');
    expect(await limited.json()).toMatchObject({ errors: [{ errorType: 'system' }], success: false });
    for (let i = 0; i < 2; i++) {
      const down = await refresh(provider, refreshToken);
      expect(down.status).toBe(503);
      expect(await down.text()).toBe('upstream down');
    }
    expect((await refresh(provider, refreshToken)).status).toBe(200);
    expect(provider.stats.faultsServed).toBe(3);

    provider.inject({ kind: 'status', status: 500 }, 5);
    provider.clearFaults();
    expect((await refresh(provider, 'fr_x')).status).toBe(400);
  });

  it('hangs until the client gives up, and close() ends hung requests', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    provider.inject({ kind: 'hang' }, 2);
    await expect(refresh(provider, refreshToken, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    const pending = refresh(provider, refreshToken);
    await expect.poll(() => provider.stats.faultsServed).toBe(2);
    await provider.close();
    await expect(pending).rejects.toThrow();
    expect(provider.activeRefreshToken('ABC123')).toBe(refreshToken);
  });

  it('delays, then processes normally; latencyMs delays every token answer', async () => {
    const provider = await start({ latencyMs: () => 20 });
    const { refreshToken } = provider.seedGrant();
    provider.inject({ kind: 'delay', ms: 60 });
    const startedAt = performance.now();
    const response = await refresh(provider, refreshToken);
    expect(response.status).toBe(200);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(75);
  });

  it('serves garbage, oversized bodies and connection resets', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    provider.inject({ kind: 'garbage' });
    provider.inject({ kind: 'garbage', status: 502 });
    provider.inject({ kind: 'oversized', bytes: 3_000_000 });
    provider.inject({ kind: 'reset' });

    const garbage = await refresh(provider, refreshToken);
    expect(garbage.status).toBe(200);
    expect(garbage.headers.get('content-type')).toMatch(/text\/html/);
    await expect(garbage.json()).rejects.toThrow();
    expect((await refresh(provider, refreshToken)).status).toBe(502);

    const oversized = await refresh(provider, refreshToken);
    expect(oversized.status).toBe(200);
    expect((await oversized.text()).length).toBe(3_000_000);

    await expect(refresh(provider, refreshToken)).rejects.toThrow();
    expect(provider.activeRefreshToken('ABC123')).toBe(refreshToken);
    expect((await refresh(provider, refreshToken)).status).toBe(200);
  });

  it('rotate-then-hang loses the response; only a grace retry recovers the new pair', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    provider.inject({ kind: 'rotate-then-hang' });
    await expect(refresh(provider, refreshToken, { signal: AbortSignal.timeout(150) })).rejects.toThrow();
    const rotatedTo = provider.activeRefreshToken('ABC123');
    expect(rotatedTo).not.toBe(refreshToken);
    const retry = await refresh(provider, refreshToken);
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as TokenBody).refresh_token).toBe(rotatedTo);
    expect(provider.stats).toMatchObject({ refreshSuccesses: 1, graceReplays: 1 });
  });

  it('rotate-then-status answers an error after rotating', async () => {
    const provider = await start();
    const { refreshToken } = provider.seedGrant();
    provider.inject({ kind: 'rotate-then-status', status: 502 });
    const failed = await refresh(provider, refreshToken);
    expect(failed.status).toBe(502);
    expect(await failed.json()).toMatchObject({ errors: [{ errorType: 'system' }] });
    const rotatedTo = provider.activeRefreshToken('ABC123');
    expect(rotatedTo).not.toBe(refreshToken);
    clock += 120_001;
    expect((await refresh(provider, refreshToken)).status).toBe(400);
    expect(provider.activeRefreshToken('ABC123')).toBe(rotatedTo);
  });

  it('rejects a non-positive repeat count', async () => {
    const provider = await start();
    expect(() => provider.inject({ kind: 'reset' }, 0)).toThrow(RangeError);
  });
});
