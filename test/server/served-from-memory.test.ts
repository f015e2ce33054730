import { describe, expect, it } from 'vitest';
import { ApiKeyStore, apiKeyStorePath } from '../../src/api-keys/api-key-store.ts';
import { parseApiKey } from '../../src/api-keys/key-format.ts';
import type { Clock } from '../../src/core/types.ts';
import { createKeeper } from '../../src/keeper/keeper.ts';
import { createHarness, expectSuccess, type Harness } from '../cli/harness.ts';
import { openDaemonKeeper } from './in-process.ts';

type TokenJson = { accessToken: string; expiresAt: string };
type ErrorJson = { error: { code: string } };

/** The access token a fresh `tokenkeeper token` process reads from the store (nothing kept in memory). */
async function storedAccessToken(h: Harness, name: string): Promise<string> {
  return expectSuccess(await h.cli(['token', name])).stdout.trim();
}

/**
 * The token API keeps decoded tokens and the API keys in memory; these prove that what another process writes
 * to the same files is what the very next request sees.
 */
describe.concurrent('the token API serves from memory only what the store still holds', () => {
  it('serves a token refreshed by another process on the next request', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const key = d.createApiKey(['me']);
    const daemon = await d.startDaemon();
    const tokenUrl = `${daemon.url}/v1/connections/me/token`;

    const first = await daemon.api<TokenJson>(tokenUrl, { key });
    expect(first.status).toBe(200);
    expect((await daemon.api<TokenJson>(tokenUrl, { key })).body.accessToken).toBe(first.body.accessToken);

    expectSuccess(await h.cli(['refresh', 'me', '--force']));
    const refreshed = await storedAccessToken(h, 'me');
    expect(refreshed).not.toBe(first.body.accessToken);
    const next = await daemon.api<TokenJson>(tokenUrl, { key });
    expect(next.status).toBe(200);
    expect(next.body.accessToken).toBe(refreshed);
  });

  it('serves the new token of a connection removed and added again by another process', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const key = d.createApiKey(['me']);
    const daemon = await d.startDaemon();
    const tokenUrl = `${daemon.url}/v1/connections/me/token`;
    const before = (await daemon.api<TokenJson>(tokenUrl, { key })).body.accessToken;

    expectSuccess(await h.cli(['remove', 'me', '--yes']));
    const gone = await daemon.api<ErrorJson>(tokenUrl, { key });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');

    await h.addConnection('me', 'USER02');
    const added = await storedAccessToken(h, 'me');
    expect(added).not.toBe(before);
    const next = await daemon.api<TokenJson>(tokenUrl, { key });
    expect(next.status).toBe(200);
    expect(next.body.accessToken).toBe(added);
  });

  it('refuses a key revoked by another process on the next request', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const key = d.createApiKey(['me']);
    const other = d.createApiKey(['me']);
    const daemon = await d.startDaemon();
    const tokenUrl = `${daemon.url}/v1/connections/me/token`;
    for (const k of [key, other]) expect((await daemon.api(tokenUrl, { key: k })).status).toBe(200);

    // Another process's store: its commit is what the daemon's connection to the file must notice.
    const elsewhere = ApiKeyStore.open(apiKeyStorePath(h.home));
    try {
      expect(elsewhere.revoke(parseApiKey(key)?.id ?? '')).toBe(true);
    } finally {
      elsewhere.close();
    }
    const refused = await daemon.api<ErrorJson>(tokenUrl, { key });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_api_key');
    expect((await daemon.api(tokenUrl, { key: other })).status).toBe(200);

    // And a key created elsewhere is accepted at once.
    const created = expectSuccess(await h.cli(['api-key', 'create', '--scope', 'me'])).stdout.trim();
    h.secrets.add(created);
    expect((await daemon.api(tokenUrl, { key: created })).status).toBe(200);
  });

  it('never serves a kept token past its expiry, nor one that would not stay valid for minValidMs', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    let now = Date.now();
    const clock: Clock = { now: () => now };
    const keeper = await createKeeper({ config: h.configPath, env: h.env, clock });
    onTestFinished(() => keeper.close());
    const seed = h.seed();
    await keeper.addConnection({
      name: 'me',
      provider: 'fitbit',
      clientId: h.sim.clientId,
      clientSecret: h.sim.clientSecret,
      tokens: { refreshToken: seed.refreshToken },
    });
    await keeper.refresh('me', { force: true });
    const first = await keeper.accessTokenDetails('me');
    expect(await keeper.accessTokenDetails('me')).toEqual(first);
    const expiresAt = first.expiresAt ?? 0;

    // Valid for another minute, but not for the hour asked: refreshed first.
    now = expiresAt - 60_000;
    const longer = await keeper.accessTokenDetails('me', { minValidMs: 3_600_000 });
    expect(longer.accessToken).not.toBe(first.accessToken);
    expect(longer.expiresAt ?? 0).toBeGreaterThan(now + 3_600_000);

    now = (longer.expiresAt ?? 0) + 1;
    const renewed = await keeper.accessTokenDetails('me');
    expect(renewed.accessToken).not.toBe(longer.accessToken);
    expect(renewed.expiresAt ?? 0).toBeGreaterThan(now);
    await keeper.idle();
  });
});
