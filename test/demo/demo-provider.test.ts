import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEMO_ACCOUNT, startDemoProvider, type DemoProvider } from '../../src/demo/demo-provider.ts';
import { startFlakyLink } from '../../src/demo/flaky-link.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';

interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function post(url: string, form: Record<string, string>, basic?: string): Promise<TokenAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(basic && { authorization: `Basic ${Buffer.from(basic).toString('base64')}` }),
    },
    body: new URLSearchParams(form),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

/** Plays the browser on the consent page and returns the code it hands to the redirect URI. */
async function consent(provider: DemoProvider, challenge: string): Promise<string> {
  const url = new URL(provider.authorizeUrl);
  url.search = new URLSearchParams({
    client_id: provider.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'activity profile',
    state: 'st-1',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  const answer = await fetch(url, { redirect: 'manual' });
  expect(answer.status).toBe(302);
  const location = new URL(answer.headers.get('location') ?? '');
  expect(location.origin + location.pathname).toBe(REDIRECT);
  expect(location.searchParams.get('state')).toBe('st-1');
  return location.searchParams.get('code') ?? '';
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function connected(provider: DemoProvider): Promise<Record<string, unknown>> {
  const { verifier, challenge } = pkce();
  const code = await consent(provider, challenge);
  const answer = await post(provider.tokenUrl, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: provider.clientId,
  });
  expect(answer.status).toBe(200);
  return answer.body;
}

const refresh = (provider: DemoProvider, refreshToken: unknown) =>
  post(provider.tokenUrl, {
    grant_type: 'refresh_token',
    refresh_token: String(refreshToken),
    client_id: provider.clientId,
  });

describe('the demo provider', () => {
  it('approves DEMO42 on its consent page and exchanges the code once, only with the PKCE verifier', async ({
    onTestFinished,
  }) => {
    const provider = await startDemoProvider({ lifetimeSeconds: 42, clientType: 'client' });
    onTestFinished(() => provider.close());
    expect(provider.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(provider.clientSecret).toBeUndefined();

    const { verifier, challenge } = pkce();
    const code = await consent(provider, challenge);
    const exchange = (codeVerifier: string) =>
      post(provider.tokenUrl, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: codeVerifier,
        client_id: provider.clientId,
      });
    const wrong = await exchange(pkce().verifier);
    expect(wrong).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // The failed attempt spent the code.
    expect((await exchange(verifier)).body.error).toBe('invalid_grant');

    const tokens = await connected(provider);
    expect(tokens).toMatchObject({
      token_type: 'Bearer',
      expires_in: 42,
      scope: 'activity profile',
      user_id: DEMO_ACCOUNT,
    });
    expect(tokens).not.toHaveProperty('refresh_token_expires_in');
    const api = await fetch(provider.profileUrl, {
      headers: { authorization: `Bearer ${String(tokens.access_token)}` },
    });
    expect(api.status).toBe(200);
    expect(provider.stats).toMatchObject({ codeExchanges: 1, invalidGrant: 2, apiRequests: 1 });
  });

  it('with a refresh-token lifetime, announces it (refresh_token_expires_in) and refuses a refresh token past it', async ({
    onTestFinished,
  }) => {
    const provider = await startDemoProvider({
      lifetimeSeconds: 60,
      clientType: 'client',
      refreshTokenExpiresInSeconds: 1,
    });
    onTestFinished(() => provider.close());
    const tokens = await connected(provider);
    expect(tokens.refresh_token_expires_in).toBe(1);
    const renewed = await refresh(provider, tokens.refresh_token);
    expect(renewed).toMatchObject({ status: 200, body: { refresh_token_expires_in: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await refresh(provider, renewed.body.refresh_token)).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'refresh token expired' },
    });
  });

  it('refuses an authorization request without PKCE or with a redirect URI off loopback', async ({
    onTestFinished,
  }) => {
    const provider = await startDemoProvider({ lifetimeSeconds: 60 });
    onTestFinished(() => provider.close());
    const ask = async (params: Record<string, string>) => {
      const url = new URL(provider.authorizeUrl);
      url.search = new URLSearchParams({
        client_id: provider.clientId,
        response_type: 'code',
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        ...params,
      }).toString();
      const answer = await fetch(url, { redirect: 'manual' });
      return { status: answer.status, body: (await answer.json()) as { error: string } };
    };
    expect(await ask({ code_challenge_method: 'plain' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect(await ask({ redirect_uri: 'https://example.com/callback' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect(await ask({ client_id: 'someone-else' })).toMatchObject({ body: { error: 'invalid_client' } });
  });

  it('rotates single-use refresh tokens; a lost answer is replayed for the same token, an older one is dead', async ({
    onTestFinished,
  }) => {
    const provider = await startDemoProvider({ lifetimeSeconds: 60, clientType: 'client' });
    onTestFinished(() => provider.close());
    const first = await connected(provider);
    const second = await refresh(provider, first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    // The same request again (its answer was lost): the same new pair, not a third one.
    const replay = await refresh(provider, first.refresh_token);
    expect(replay.body).toEqual(second.body);
    const third = await refresh(provider, second.body.refresh_token);
    expect(third.status).toBe(200);
    const stale = await refresh(provider, first.refresh_token);
    expect(stale).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(provider.stats).toMatchObject({
      refreshRequests: 4,
      refreshSuccesses: 2,
      graceReplays: 1,
      invalidGrant: 1,
    });
  });

  it('authenticates its confidential client, and revocation ends the grant', async ({ onTestFinished }) => {
    const provider = await startDemoProvider({ lifetimeSeconds: 60 });
    onTestFinished(() => provider.close());
    const credentials = `${provider.clientId}:${provider.clientSecret}`;
    const { verifier, challenge } = pkce();
    const code = await consent(provider, challenge);
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
    expect(await post(provider.tokenUrl, form, `${provider.clientId}:wrong`)).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    const tokens = (await post(provider.tokenUrl, form, credentials)).body;
    expect(tokens.user_id).toBe(DEMO_ACCOUNT);

    const revoked = await post(provider.revokeUrl, { token: String(tokens.refresh_token) }, credentials);
    expect(revoked.status).toBe(200);
    const after = await post(
      provider.tokenUrl,
      { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) },
      credentials,
    );
    expect(after.body.error).toBe('invalid_grant');
    const api = await fetch(provider.profileUrl, {
      headers: { authorization: `Bearer ${String(tokens.access_token)}` },
    });
    expect(api.status).toBe(401);
    expect(api.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });
});

describe('the demo --chaos link', () => {
  it('passes requests through, turns one away with 503 and loses the answer of one the provider served', async ({
    onTestFinished,
  }) => {
    const provider = await startDemoProvider({ lifetimeSeconds: 60, clientType: 'client' });
    onTestFinished(() => provider.close());
    const link = await startFlakyLink(provider.url);
    onTestFinished(() => link.close());
    expect(link.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const tokens = await connected(provider);
    const viaLink = (refreshToken: unknown) =>
      post(`${link.url}/oauth2/token`, {
        grant_type: 'refresh_token',
        refresh_token: String(refreshToken),
        client_id: provider.clientId,
      });

    link.refuseNext(1);
    const refused = await viaLink(tokens.refresh_token);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(provider.stats.refreshRequests).toBe(0);
    expect(link.refused).toBe(1);

    link.loseNextAnswer();
    const lost = viaLink(tokens.refresh_token);
    while (provider.stats.refreshSuccesses === 0) await new Promise((resolve) => setImmediate(resolve));
    // The provider rotated; the answer never arrives, and the retry of the same token gets the same new pair.
    const retried = await viaLink(tokens.refresh_token);
    expect(retried.status).toBe(200);
    expect(provider.stats).toMatchObject({ refreshRequests: 2, refreshSuccesses: 1, graceReplays: 1 });
    await link.close();
    await expect(lost).rejects.toThrow();
  });
});
