import { createHash } from 'node:crypto';
import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_KEY_HEADER, createHttpHandler } from '../../src/azure/http-handler.ts';
import type { Keeper } from '../../src/keeper/keeper.ts';
import { invocation, startAzureWorld, type AzureWorld } from './harness.ts';

const CALLER_KEY = 'caller-key-for-the-fitbit-pipeline-0123456789';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function get(action: string, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({
    method: 'GET',
    url: `https://tokens.example.net/api/tokenkeeper/${action}`,
    params: { action },
    headers,
  });
}

describe('HTTP function: status and the caller’s own access token', () => {
  let world: AzureWorld;
  let keeper: Keeper;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    world = await startAzureWorld();
    world.seedLikeCSharp();
    keeper = await world.functionKeeper();
    const other = world.sim.seedGrant({ userId: 'OTHER1' });
    await keeper.addConnection({
      name: 'other',
      provider: 'fitbit',
      clientId: world.sim.clientId,
      clientSecret: world.sim.clientSecret,
      tokens: { refreshToken: other.refreshToken },
    });
    env = { TOKENKEEPER_HTTP_CALLERS: `fitbit=${sha256(CALLER_KEY)},other=${sha256('the-other-key')}` };
  });
  afterAll(async () => {
    await world?.close();
  });

  const handler = (handlerEnv: NodeJS.ProcessEnv = env) => createHttpHandler(async () => keeper, handlerEnv);

  it('status lists every connection without any secret', async () => {
    const response = await handler()(get('status'), invocation('tokenkeeper').context);
    expect(response.status).toBe(200);
    const body = response.jsonBody as { connections: Array<{ name: string; status: string }> };
    expect(body.connections.map((row) => row.name)).toEqual(['fitbit', 'other']);
    const text = JSON.stringify(body);
    for (const connection of await keeper.store.list()) {
      expect(text).not.toContain(connection.tokens.refreshToken);
      expect(text).not.toContain(connection.clientSecret);
    }
  });

  it('token: a caller key unlocks a valid access token of its own connection, never the refresh token', async () => {
    const response = await handler()(
      get('token', { [CALLER_KEY_HEADER]: CALLER_KEY }),
      invocation('tokenkeeper').context,
    );
    expect(response.status).toBe(200);
    expect(response.headers).toMatchObject({ 'cache-control': 'no-store' });
    const body = response.jsonBody as { connection: string; accessToken: string; expiresAt: string };
    expect(body.connection).toBe('fitbit');
    const profile = await fetch(world.sim.profileUrl, {
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(profile.status).toBe(200);
    // The user behind it is the fitbit connection's, not the other one's.
    expect(((await profile.json()) as { user: { encodedId: string } }).user.encodedId).toBe('SEED01');
    expect(JSON.stringify(body)).not.toContain(world.sim.activeRefreshToken('SEED01'));
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
  });

  it('token: no key, a wrong key, or no callers configured are refused', async () => {
    const context = invocation('tokenkeeper').context;
    expect((await handler()(get('token'), context)).status).toBe(401);
    expect((await handler()(get('token', { [CALLER_KEY_HEADER]: 'guess' }), context)).status).toBe(401);
    const none = await handler({})(get('token', { [CALLER_KEY_HEADER]: CALLER_KEY }), context);
    expect(none.status).toBe(403);
    const broken = await handler({ TOKENKEEPER_HTTP_CALLERS: 'fitbit=nothex' })(
      get('token', { [CALLER_KEY_HEADER]: CALLER_KEY }),
      context,
    );
    expect(broken.status).toBe(500);
    expect(JSON.stringify(broken.jsonBody)).toMatch(
      /TOKENKEEPER_HTTP_CALLERS entry 1 is not CONNECTION=SHA256HEX/,
    );
    expect((await handler()(get('nope'), context)).status).toBe(404);
  });

  it('token of a connection whose refresh token was revoked answers 409 needs_reauth', async () => {
    const stored = await keeper.store.get('other');
    // Another party spends the stored refresh token: the provider now rejects it.
    const spend = await fetch(world.sim.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${world.sim.clientId}:${world.sim.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: stored?.tokens.refreshToken ?? '',
      }),
    });
    expect(spend.status).toBe(200);
    // Using the new access token ends Fitbit's grace window for the spent refresh token.
    const { access_token: used } = (await spend.json()) as { access_token: string };
    await (await fetch(world.sim.profileUrl, { headers: { authorization: `Bearer ${used}` } })).arrayBuffer();
    const response = await handler()(
      get('token', { [CALLER_KEY_HEADER]: 'the-other-key' }),
      invocation('tokenkeeper').context,
    );
    expect(response.status).toBe(409);
    expect(response.jsonBody).toMatchObject({ error: 'needs_reauth' });
  });
});
