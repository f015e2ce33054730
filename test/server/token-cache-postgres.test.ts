import { describe, expect, it } from 'vitest';
import { TokenCache } from '../../src/keeper/token-cache.ts';
import type { ConnectionStore } from '../../src/stores/store.ts';
import { keyring, newConnection, usePostgres } from '../postgres/setup.ts';

const pg = usePostgres();

async function load(store: ConnectionStore, name: string) {
  const found = await store.get(name);
  if (!found) throw new Error(`no connection "${name}"`);
  return found;
}

/** The token cache on PostgreSQL, where the stamp is the row's own (version and writing transaction). */
describe('TokenCache on PostgreSQL', () => {
  it('keeps a row until another worker writes it, and sees it removed and added again', async () => {
    const url = pg.storeUrl();
    const ring = keyring();
    const mine = await pg.openStore(url, ring);
    const theirs = await pg.openStore(url, ring);
    const stored = await theirs.insert(newConnection('me'));
    await theirs.insert(newConnection('other'));
    const cache = new TokenCache(mine);

    (await cache.read('me', () => load(mine, 'me'))).keep();
    expect((await cache.read('me', () => load(mine, 'me'))).fromCache).toBe(true);
    // A write to another connection leaves this row's stamp where it was.
    const other = await load(theirs, 'other');
    await theirs.update({ ...other, failureCount: 1 });
    expect((await cache.read('me', () => load(mine, 'me'))).fromCache).toBe(true);

    await theirs.update({ ...stored, tokens: { ...stored.tokens, accessToken: 'access-2' } });
    const after = await cache.read('me', () => load(mine, 'me'));
    expect(after).toMatchObject({ fromCache: false, connection: { tokens: { accessToken: 'access-2' } } });
    after.keep();

    await theirs.delete('me');
    await expect(cache.read('me', () => load(mine, 'me'))).rejects.toThrow('no connection "me"');
    await theirs.insert(newConnection('me', { clientSecret: 'again' }));
    const again = await cache.read('me', () => load(mine, 'me'));
    expect(again.fromCache).toBe(false);
    expect(again.connection.tokens.accessToken).not.toBe('access-2');
  });
});
