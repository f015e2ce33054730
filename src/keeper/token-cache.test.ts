import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NewConnection } from '../core/types.ts';
import { keyFromBytes, type Keyring } from '../crypto/envelope.ts';
import { SqliteStore } from '../stores/sqlite-store.ts';
import { MAX_ENTRIES, TokenCache } from './token-cache.ts';

const connection: NewConnection = {
  name: 'me',
  provider: 'fitbit',
  grant: 'refresh_token',
  clientId: 'client-1',
  clientSecret: 'client-secret',
  tokens: { accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: Date.now() + 3_600_000 },
  status: 'active',
  failureCount: 0,
};

/** Two stores on one SQLite file, as two processes would open it; closed when the test finishes. */
function twoStores(onFinished: (fn: () => Promise<void>) => void): [SqliteStore, SqliteStore] {
  const dir = mkdtempSync(join(tmpdir(), 'tk-token-cache-'));
  const path = join(dir, 'store', 'tokenkeeper.db');
  const keyring: Keyring = { current: keyFromBytes(randomBytes(32)), previous: [] };
  const mine = SqliteStore.open({ path, keyring });
  const theirs = SqliteStore.open({ path, keyring });
  onFinished(async () => {
    await Promise.all([mine.close(), theirs.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  return [mine, theirs];
}

async function load(store: SqliteStore) {
  const found = await store.get('me');
  if (!found) throw new Error('no connection "me"');
  return found;
}

describe('TokenCache', () => {
  it('keeps a connection until another process writes, and only when asked to', async ({
    onTestFinished,
  }) => {
    const [mine, theirs] = twoStores(onTestFinished);
    await theirs.insert(connection);
    const cache = new TokenCache(mine);

    const unkept = await cache.read('me', () => load(mine));
    expect(unkept.fromCache).toBe(false);
    const first = await cache.read('me', () => load(mine));
    expect(first.fromCache).toBe(false);
    first.keep();
    const hit = await cache.read('me', () => load(mine));
    const { clientSecret: _secret, tokens, ...rest } = first.connection;
    const { refreshToken: _refresh, ...served } = tokens;
    expect(hit).toMatchObject({ fromCache: true, connection: { ...rest, tokens: served } });
    // What is kept in memory for serving holds no refresh token and no client secret.
    expect(hit.connection.tokens.refreshToken).toBeUndefined();
    expect(hit.connection.clientSecret).toBeUndefined();

    await theirs.update({
      ...first.connection,
      tokens: { ...first.connection.tokens, accessToken: 'access-2' },
    });
    const after = await cache.read('me', () => load(mine));
    expect(after.fromCache).toBe(false);
    expect(after.connection.tokens.accessToken).toBe('access-2');
  });

  it('does not keep a row under a stamp read after a write that landed before the row was read', async ({
    onTestFinished,
  }) => {
    const [mine, theirs] = twoStores(onTestFinished);
    const stored = await theirs.insert(connection);
    const cache = new TokenCache(mine);
    // The write lands between the stamp read and the row read; the row read is the old one (say, a slow read).
    const racing = await cache.read('me', async () => {
      const old = await load(mine);
      await theirs.update({ ...stored, tokens: { ...stored.tokens, accessToken: 'access-2' } });
      return old;
    });
    expect(racing.connection.tokens.accessToken).toBe('access-1');
    racing.keep();
    const next = await cache.read('me', () => load(mine));
    expect(next.fromCache).toBe(false);
    expect(next.connection.tokens.accessToken).toBe('access-2');
  });

  it("sees its own store's writes, a removal and a connection added again", async ({ onTestFinished }) => {
    const [mine, theirs] = twoStores(onTestFinished);
    const stored = await mine.insert(connection);
    const cache = new TokenCache(mine);
    (await cache.read('me', () => load(mine))).keep();

    await mine.update({ ...stored, tokens: { ...stored.tokens, accessToken: 'access-own' } });
    const own = await cache.read('me', () => load(mine));
    expect(own).toMatchObject({ fromCache: false, connection: { tokens: { accessToken: 'access-own' } } });
    own.keep();

    await theirs.delete('me');
    await expect(cache.read('me', () => load(mine))).rejects.toThrow('no connection "me"');
    await theirs.insert({ ...connection, tokens: { ...connection.tokens, accessToken: 'access-new' } });
    const again = await cache.read('me', () => load(mine));
    expect(again).toMatchObject({ fromCache: false, connection: { tokens: { accessToken: 'access-new' } } });
  });
  it('keeps at most MAX_ENTRIES connections, dropping the one kept longest ago', async ({
    onTestFinished,
  }) => {
    const [mine] = twoStores(onTestFinished);
    const stored = await mine.insert(connection);
    const cache = new TokenCache(mine);
    const names = Array.from({ length: MAX_ENTRIES + 1 }, (_, index) => `c${index}`);
    const read = (name: string) => cache.read(name, async () => ({ ...stored, name }));
    for (const first of await Promise.all(names.map(read))) first.keep();

    const [oldest, second] = await Promise.all([read('c0'), read('c1')]);
    expect(oldest.fromCache).toBe(false);
    expect(second.fromCache).toBe(true);
  });
});
