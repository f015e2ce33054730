import { describe, expect, it } from 'vitest';
import { isTokenkeeperError } from '../../src/core/errors.ts';
import { defaultExpiryPolicy, nextRefreshAt, stableFraction } from '../../src/core/expiry.ts';
import { migrations } from '../../src/stores/postgres/migrations/index.ts';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';
import { openStore } from '../../src/stores/open-store.ts';
import { defineStoreContract } from '../stores/contract.ts';
import { postgresCapabilities, postgresFixture } from '../stores/postgres-fixture.ts';
import { keyring, newConnection, usePostgres } from './setup.ts';

const pg = usePostgres();

defineStoreContract('PostgreSQL', postgresCapabilities, () => postgresFixture(pg));

function schemaOf(url: string): string {
  return new URL(url).searchParams.get('schema') as string;
}

// What every store shares (CAS, locks and fencing, sealing, key rotation) is the contract above (test/stores).
describe('PostgreSQL store', () => {
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

  it('migrates a fresh schema once even when many processes open it at the same moment', async () => {
    const url = pg.storeUrl();
    const stores = await Promise.all(Array.from({ length: 6 }, () => pg.openStore(url)));
    expect(stores).toHaveLength(6);
    const applied = await pg.sql<{ version: number; name: string }>(
      `SELECT version, name FROM ${schemaOf(url)}.schema_migrations ORDER BY version`,
    );
    expect(applied).toEqual(migrations.map(({ version, name }) => ({ version, name })));
    const indexes = await pg.sql<{ indexname: string }>(
      'SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname',
      [schemaOf(url)],
    );
    expect(indexes.map((row) => row.indexname)).toContain('connections_due');
  });

  it('migration 2 adds the refresh-token expiry columns to a schema at migration 1: its connections read as timeless', async () => {
    const url = pg.storeUrl();
    const before = await pg.openStore(url);
    const { refreshTokenExpiresAt: _none, ...tokens } = newConnection('old').tokens;
    await before.insert(newConnection('old', { tokens }));
    await before.close();
    await pg.sql(`ALTER TABLE ${schemaOf(url)}.connections DROP COLUMN refresh_token_expires_at`);
    await pg.sql(`ALTER TABLE ${schemaOf(url)}.connections DROP COLUMN refresh_token_issued_at`);
    await pg.sql(`DELETE FROM ${schemaOf(url)}.schema_migrations WHERE version = 2`);
    const upgraded = await pg.openStore(url);
    const old = await upgraded.get('old');
    expect(old?.tokens.refreshToken).toBe(tokens.refreshToken);
    expect(old?.tokens.refreshTokenExpiresAt).toBeUndefined();
    const dies = Date.now() + 180 * 86_400_000;
    const issued = dies - 180 * 86_400_000;
    await upgraded.update({
      ...old!,
      tokens: { ...old!.tokens, refreshTokenExpiresAt: dies, refreshTokenIssuedAt: issued },
    });
    const saved = (await upgraded.get('old'))?.tokens;
    expect([saved?.refreshTokenExpiresAt, saved?.refreshTokenIssuedAt]).toEqual([dies, issued]);
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
