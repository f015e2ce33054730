import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isTokenkeeperError, VersionConflictError } from '../../src/core/errors.ts';
import { defaultExpiryPolicy, nextRefreshAt, stableFraction } from '../../src/core/expiry.ts';
import { localIdentity } from '../../src/stores/process-identity.ts';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';
import { openStore } from '../../src/stores/open-store.ts';
import { KEY_B_HEX, keyring, newConnection, usePostgres, KEY_A_HEX } from './setup.ts';

const pg = usePostgres();

function schemaOf(url: string): string {
  return new URL(url).searchParams.get('schema') as string;
}

describe('PostgreSQL store', () => {
  it('round-trips connections and compare-and-swaps on version', async () => {
    const store = await pg.openStore();
    const inserted = await store.insert(newConnection('alice'));
    await store.insert(newConnection('bob'));
    expect(inserted.version).toBe(1);
    expect(await store.get('alice')).toEqual(inserted);
    expect((await store.list()).map((c) => c.name)).toEqual(['alice', 'bob']);

    const updated = await store.update({
      ...inserted,
      status: 'refreshing',
      pending: {
        attemptId: 'a1',
        refreshToken: inserted.tokens.refreshToken as string,
        startedAt: 5,
        owner: 'me',
      },
    });
    expect(updated.version).toBe(2);
    expect(await store.get('alice')).toEqual(updated);

    // A writer holding the old version loses, and nothing it wrote lands.
    const stale = store.update({ ...inserted, lastError: 'from a stale writer' });
    await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
    expect((await store.get('alice'))?.lastError).toBeUndefined();

    await expect(store.insert(newConnection('alice'))).rejects.toMatchObject({ code: 'already_exists' });
    expect(await store.delete('alice')).toBe(true);
    expect(await store.delete('alice')).toBe(false);
    expect(await store.get('alice')).toBeUndefined();
  });

  it('is what openStore returns for postgres:// and postgresql:// URLs, with the password kept out of its location', async () => {
    const url = new URL(pg.storeUrl());
    url.password = 'hunter2-not-checked-by-trust-auth';
    for (const scheme of ['postgres:', 'postgresql:']) {
      url.protocol = scheme;
      const store = await openStore(url.href, { keyring: keyring(), dataDir: '/nonexistent', env: {} });
      try {
        expect(store).toBeInstanceOf(PostgresStore);
        expect(store.location).not.toContain('hunter2');
        expect(store.location).toContain(`schema=${url.searchParams.get('schema')}`);
      } finally {
        await store.close();
      }
    }
  });

  it('stores every secret sealed, bound to its row and column', async () => {
    const url = pg.storeUrl();
    const store = await pg.openStore(url);
    const alice = await store.insert(newConnection('alice'));
    await store.insert(newConnection('bob'));
    const schema = schemaOf(url);
    const raw = JSON.stringify(await pg.sql(`SELECT * FROM ${schema}.connections`));
    for (const secret of [alice.tokens.accessToken, alice.tokens.refreshToken, alice.clientSecret]) {
      expect(raw).not.toContain(secret);
    }
    expect(raw).toMatch(/tk1\./);

    // A ciphertext copied into another row does not decrypt there.
    await pg.sql(
      `UPDATE ${schema}.connections SET refresh_token = (SELECT refresh_token FROM ${schema}.connections WHERE name = 'alice') WHERE name = 'bob'`,
    );
    const error = await store.get('bob').catch((caught: unknown) => caught);
    expect(isTokenkeeperError(error, 'store')).toBe(true);
    expect(String((error as Error).message)).toMatch(/integrity check/);
    expect(String((error as Error).message)).not.toContain(alice.tokens.refreshToken);
  });

  it('refuses to open with another key and changes nothing; a previous key still reads', async () => {
    const url = pg.storeUrl();
    const store = await pg.openStore(url);
    const alice = await store.insert(newConnection('alice'));
    await store.close();
    const before = await pg.sql(`SELECT * FROM ${schemaOf(url)}.connections`);

    await expect(pg.openStore(url, keyring(KEY_B_HEX))).rejects.toMatchObject({ code: 'wrong_key' });
    expect(await pg.sql(`SELECT * FROM ${schemaOf(url)}.connections`)).toEqual(before);

    // Rotation: the new key with the old one as previous opens, reads, and seals new writes with the new key.
    const rotated = await pg.openStore(url, keyring(KEY_B_HEX, [KEY_A_HEX]));
    expect((await rotated.get('alice'))?.tokens).toEqual(alice.tokens);
    await rotated.insert(newConnection('bob'));
    await rotated.close();
    // alice is still sealed with the old key, so the old key stays required…
    await expect(pg.openStore(url, keyring(KEY_B_HEX))).rejects.toMatchObject({ code: 'wrong_key' });
    // …until every value has been rewritten under the new one (each write re-seals every field).
    const again = await pg.openStore(url, keyring(KEY_B_HEX, [KEY_A_HEX]));
    await again.update((await again.get('alice'))!);
    await again.close();
    await (await pg.openStore(url, keyring(KEY_B_HEX, [KEY_A_HEX]))).close();
    const newKeyOnly = await pg.openStore(url, keyring(KEY_B_HEX));
    expect((await newKeyOnly.get('alice'))?.tokens).toEqual(alice.tokens);
  });

  it('migrates a fresh schema once even when many processes open it at the same moment', async () => {
    const url = pg.storeUrl();
    const stores = await Promise.all(Array.from({ length: 6 }, () => pg.openStore(url)));
    expect(stores).toHaveLength(6);
    const applied = await pg.sql<{ version: number; name: string }>(
      `SELECT version, name FROM ${schemaOf(url)}.schema_migrations ORDER BY version`,
    );
    expect(applied).toEqual([{ version: 1, name: 'initial' }]);
    const indexes = await pg.sql<{ indexname: string }>(
      'SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname',
      [schemaOf(url)],
    );
    expect(indexes.map((row) => row.indexname)).toContain('connections_due');
  });

  it('with migrate=false refuses an unmigrated schema and says how to migrate', async () => {
    const url = pg.storeUrl({ migrate: 'false' });
    const error = await pg.openStore(url).catch((caught: unknown) => caught);
    expect(isTokenkeeperError(error, 'store')).toBe(true);
    expect((error as Error).message).toMatch(/tokenkeeper migrate/);
    const schemas = await pg.sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemaOf(url)]);
    expect(schemas).toEqual([]);
  });

  it('refuses a schema migrated by a newer tokenkeeper', async () => {
    const url = pg.storeUrl();
    await (await pg.openStore(url)).close();
    await pg.sql(`INSERT INTO ${schemaOf(url)}.schema_migrations (version, name) VALUES (999, 'future')`);
    await expect(pg.openStore(url)).rejects.toThrow(/migration 999, newer than this tokenkeeper/);
  });

  it('rejects bad store URLs with a one-line fix', async () => {
    await expect(pg.openStore(pg.storeUrl({ schema: 'Robert"); DROP TABLE x' }))).rejects.toMatchObject({
      code: 'config',
    });
    await expect(pg.openStore(pg.storeUrl({ pool: '0' }))).rejects.toThrow(/pool must be a whole number/);
    const unreachable = `postgres://postgres@127.0.0.1:1/nowhere?schema=x`;
    const error = await pg.openStore(unreachable).catch((caught: unknown) => caught);
    expect(isTokenkeeperError(error, 'store')).toBe(true);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('indexes the due time, and leaves connections a human must fix out of it', async () => {
    const url = pg.storeUrl();
    const store = await pg.openStore(url);
    const alice = await store.insert(newConnection('alice'));
    await store.insert(newConnection('bob', { status: 'needs_reauth' }));
    const rows = await pg.sql<{ name: string; next_refresh_at: string | null }>(
      `SELECT name, next_refresh_at FROM ${schemaOf(url)}.connections ORDER BY name`,
    );
    const expected = nextRefreshAt(alice, defaultExpiryPolicy, () =>
      stableFraction(`alice:${alice.tokens.expiresAt}`),
    );
    expect(rows).toEqual([
      { name: 'alice', next_refresh_at: String(Math.round(expected)) },
      { name: 'bob', next_refresh_at: null },
    ]);
    store.setRefreshPlanner(() => 42);
    await store.update(alice);
    expect(
      (await pg.sql(`SELECT next_refresh_at FROM ${schemaOf(url)}.connections WHERE name = 'alice'`))[0],
    ).toEqual({
      next_refresh_at: '42',
    });
  });
});

describe('PostgreSQL refresh locks', () => {
  it('admit one holder at a time, with a fence that grows on every acquisition', async () => {
    const store = await pg.openStore();
    await store.insert(newConnection('alice'));
    const first = await store.tryLock('alice', 'owner-1', 30_000);
    expect(first).toBeDefined();
    expect(await store.tryLock('alice', 'owner-2', 30_000)).toBeUndefined();
    expect(await store.renewLock(first!, 30_000)).toBe(true);
    await store.releaseLock(first!);
    const second = await store.tryLock('alice', 'owner-2', 30_000);
    expect(second?.fence).toBe((first?.fence ?? 0) + 1);
    // The first holder's late release or renewal does nothing to the new holder.
    await store.releaseLock(first!);
    expect(await store.renewLock(first!, 30_000)).toBe(false);
    expect(await store.tryLock('alice', 'owner-3', 30_000)).toBeUndefined();
  });

  it('expire on the database clock, after which another owner takes over and the old one cannot renew', async () => {
    const store = await pg.openStore();
    const stale = await store.tryLock('alice', 'owner-1', 50);
    expect(stale).toBeDefined();
    let taken;
    while (!(taken = await store.tryLock('alice', 'owner-2', 30_000)))
      await new Promise((r) => setTimeout(r, 20));
    expect(taken.fence).toBe(stale!.fence + 1);
    expect(await store.renewLock(stale!, 30_000)).toBe(false);
  });

  it('held by a process of this machine that no longer exists are taken over at once', async () => {
    const url = pg.storeUrl();
    const store = await pg.openStore(url);
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number;
    await pg.sql(
      `INSERT INTO ${schemaOf(url)}.locks (name, owner, host, pid, fence, expires_at) VALUES ('alice', 'crashed', $1, $2, 7, $3)`,
      [localIdentity(), deadPid, Date.now() + 3_600_000],
    );
    const taken = await store.tryLock('alice', 'owner-2', 30_000);
    expect(taken?.fence).toBe(8);
    // …but not when the holder lives on another machine: that one has to expire.
    await store.releaseLock(taken!);
    await pg.sql(
      `UPDATE ${schemaOf(url)}.locks SET owner = 'elsewhere', host = 'other-machine', pid = $1, expires_at = $2`,
      [deadPid, Date.now() + 3_600_000],
    );
    expect(await store.tryLock('alice', 'owner-3', 30_000)).toBeUndefined();
  });
});
