import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewConnection } from '../core/types.ts';
import { keyFromBytes, type Keyring } from '../crypto/envelope.ts';
import { SqliteStore } from './sqlite-store.ts';

const ringA: Keyring = { current: keyFromBytes(Buffer.alloc(32, 1)), previous: [] };
const REFRESH = 'fr_sqlite-store-refresh-token-0001';
const ACCESS = 'fa_sqlite-store-access-token-0001';
const SECRET = 'cs_sqlite-store-client-secret-0001';

let dir: string;
let path: string;
const open: SqliteStore[] = [];

function openStore(keyring = ringA): SqliteStore {
  const store = SqliteStore.open({ path, keyring });
  open.push(store);
  return store;
}

function connection(name = 'me', overrides: Partial<NewConnection> = {}): NewConnection {
  return {
    name,
    provider: 'fitbit',
    clientId: 'client-1',
    clientSecret: SECRET,
    tokens: {
      accessToken: ACCESS,
      refreshToken: REFRESH,
      expiresAt: 1_800_000_000_000,
      obtainedAt: 1_799_971_200_000,
      scope: 'activity profile',
      tokenType: 'Bearer',
      providerUserId: 'ABC123',
    },
    status: 'active',
    failureCount: 0,
    ...overrides,
  };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-sqlite-'));
  path = join(dir, 'store', 'tokenkeeper.db');
});

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

// The behaviour every store shares (CAS, locks, sealing, key rotation) is in test/stores (the store contract).
describe('SqliteStore file and schema', () => {
  it('refuses a store written by a newer schema', async () => {
    openStore();
    await open.pop()?.close();
    const raw = new DatabaseSync(path);
    raw.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    raw.close();
    expect(() => openStore()).toThrow(
      expect.objectContaining({ code: 'store', message: expect.stringMatching(/upgrade/) }),
    );
  });

  it('refuses a file that is not SQLite', async () => {
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'store'), { recursive: true });
    writeFileSync(path, 'this is not a database '.repeat(100));
    expect(() => openStore()).toThrow(expect.objectContaining({ code: 'store' }));
  });

  // BUG (schema migration): src/stores/sqlite-store.ts added the `grant_type` column to CREATE TABLE IF NOT EXISTS
  // without bumping SCHEMA_VERSION or adding an ALTER TABLE, so a store created before that column existed (the
  // foundation commit's schema) opens fine but every insert/update then fails with "no column named grant_type".
  it('a store created before the grant_type column still accepts writes', async () => {
    const store = openStore();
    await store.insert(connection('old'));
    await store.close();
    open.pop();
    const raw = new DatabaseSync(path);
    raw.exec('ALTER TABLE connections DROP COLUMN grant_type'); // the foundation schema
    raw.close();
    const upgraded = openStore();
    const existing = await upgraded.get('old');
    expect(existing?.tokens.refreshToken).toBe(REFRESH);
    await upgraded.update({ ...(existing as NonNullable<typeof existing>), status: 'refreshing' });
    await upgraded.insert(connection('new'));
  });

  it('a store created before the refresh-token expiry columns reads its connections as timeless and keeps new expiries', async () => {
    const store = openStore();
    await store.insert(connection('old'));
    await store.close();
    open.pop();
    const raw = new DatabaseSync(path);
    raw.exec('ALTER TABLE connections DROP COLUMN refresh_token_expires_at');
    raw.exec('ALTER TABLE connections DROP COLUMN refresh_token_issued_at');
    raw.close();
    const upgraded = openStore();
    const existing = await upgraded.get('old');
    expect(existing?.tokens.refreshTokenExpiresAt).toBeUndefined();
    const dies = 1_815_552_000_000;
    await upgraded.update({
      ...(existing as NonNullable<typeof existing>),
      tokens: { ...existing!.tokens, refreshTokenExpiresAt: dies, refreshTokenIssuedAt: dies - 1000 },
    });
    const saved = (await upgraded.get('old'))?.tokens;
    expect([saved?.refreshTokenExpiresAt, saved?.refreshTokenIssuedAt]).toEqual([dies, dies - 1000]);
  });
});
