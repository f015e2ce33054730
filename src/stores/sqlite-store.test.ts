import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VersionConflictError } from '../core/errors.ts';
import type { NewConnection } from '../core/types.ts';
import { keyFromBytes, type Keyring } from '../crypto/envelope.ts';
import { SqliteStore } from './sqlite-store.ts';

const ringA: Keyring = { current: keyFromBytes(Buffer.alloc(32, 1)), previous: [] };
const ringB: Keyring = { current: keyFromBytes(Buffer.alloc(32, 2)), previous: [] };
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

describe('SqliteStore connections', () => {
  it('round-trips every field, pending record included', async () => {
    const store = openStore();
    const pending = { attemptId: 'att-1', refreshToken: REFRESH, startedAt: 123, owner: 'host:1:abc' };
    const inserted = await store.insert(connection('me', { pending, lastError: 'boom', failureCount: 2 }));
    expect(inserted.version).toBe(1);
    const read = await store.get('me');
    expect(read).toMatchObject({
      ...connection('me'),
      pending,
      lastError: 'boom',
      failureCount: 2,
      version: 1,
    });
    expect(await store.get('nobody')).toBeUndefined();
  });

  it('refuses a second connection with the same name', async () => {
    const store = openStore();
    await store.insert(connection());
    await expect(store.insert(connection())).rejects.toMatchObject({ code: 'already_exists' });
  });

  it('update is a compare-and-swap on version', async () => {
    const store = openStore();
    const first = await store.insert(connection());
    const second = await store.update({ ...first, status: 'refreshing' });
    expect(second.version).toBe(2);
    await expect(store.update({ ...first, status: 'failing' })).rejects.toBeInstanceOf(VersionConflictError);
    expect((await store.get('me'))?.status).toBe('refreshing');
    await expect(
      store.update({ ...connection('ghost'), version: 1, createdAt: 0, updatedAt: 0 }),
    ).rejects.toBeInstanceOf(VersionConflictError);
  });

  it('lists by name and deletes', async () => {
    const store = openStore();
    await store.insert(connection('zeta'));
    await store.insert(connection('alpha'));
    expect((await store.list()).map((c) => c.name)).toEqual(['alpha', 'zeta']);
    expect(await store.delete('alpha')).toBe(true);
    expect(await store.delete('alpha')).toBe(false);
    expect((await store.list()).map((c) => c.name)).toEqual(['zeta']);
  });

  it('data survives closing and reopening', async () => {
    const store = openStore();
    await store.insert(connection());
    await store.close();
    expect((await openStore().get('me'))?.tokens.refreshToken).toBe(REFRESH);
  });
});

describe('SqliteStore secrets', () => {
  it('stores tokens and client secret only encrypted', async () => {
    const store = openStore();
    await store.insert(
      connection('me', { pending: { attemptId: 'a', refreshToken: REFRESH, startedAt: 1, owner: 'o' } }),
    );
    await store.close();
    const bytes = readFileSync(path);
    for (const secret of [REFRESH, ACCESS, SECRET]) expect(bytes.includes(secret)).toBe(false);
    expect(bytes.includes('ABC123')).toBe(true);
  });

  it('binds ciphertexts to their row and field: moving one makes the read fail', async () => {
    const store = openStore();
    await store.insert(connection('alice'));
    await store.insert(connection('bob', { tokens: { refreshToken: 'fr_bob-token-000000' } }));
    await store.close();
    const raw = new DatabaseSync(path);
    raw.exec(
      "UPDATE connections SET refresh_token = (SELECT refresh_token FROM connections WHERE name = 'alice') WHERE name = 'bob'",
    );
    raw.exec("UPDATE connections SET access_token = refresh_token WHERE name = 'alice'");
    raw.close();
    const reopened = openStore();
    await expect(reopened.get('bob')).rejects.toThrow(/integrity/);
    await expect(reopened.get('alice')).rejects.toThrow(/integrity/);
  });

  it('refuses to open with another key (wrong_key) and changes nothing', async () => {
    const store = openStore();
    await store.insert(connection());
    await store.close();
    const before = readFileSync(path);
    expect(() => openStore(ringB)).toThrow(expect.objectContaining({ code: 'wrong_key' }));
    expect(readFileSync(path).equals(before)).toBe(true);
    const rotated = openStore({ current: ringB.current, previous: [ringA.current] });
    expect((await rotated.get('me'))?.tokens.refreshToken).toBe(REFRESH);
  });

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
});

describe('SqliteStore locks', () => {
  it('one holder at a time; released locks can be taken again with a higher fence', async () => {
    const store = openStore();
    const other = openStore();
    const held = await store.tryLock('me', 'owner-a', 60_000);
    expect(held).toBeDefined();
    expect(await other.tryLock('me', 'owner-b', 60_000)).toBeUndefined();
    expect(await store.tryLock('me', 'owner-a', 60_000)).toBeUndefined();
    expect(await other.tryLock('another', 'owner-b', 60_000)).toBeDefined();
    await store.releaseLock(held!);
    const next = await other.tryLock('me', 'owner-b', 60_000);
    expect(next?.fence).toBeGreaterThan(held!.fence);
  });

  it('an expired lease is taken over, and the old holder can no longer renew it', async () => {
    const store = openStore();
    const held = await store.tryLock('me', 'owner-a', 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const taken = await store.tryLock('me', 'owner-b', 60_000);
    expect(taken).toBeDefined();
    expect(await store.renewLock(held!, 60_000)).toBe(false);
    expect(await store.renewLock(taken!, 60_000)).toBe(true);
    // Releasing a lost lock does not free the new holder's.
    await store.releaseLock(held!);
    expect(await store.tryLock('me', 'owner-c', 60_000)).toBeUndefined();
  });

  it('a lock held by a dead process on this host is taken over at once', async () => {
    const store = openStore();
    await store.tryLock('me', 'crashed', 60_000);
    const raw = new DatabaseSync(path);
    raw.exec("UPDATE locks SET pid = 4194999 WHERE name = 'me'"); // above Linux's pid_max: never alive
    raw.close();
    expect(await store.tryLock('me', 'rescuer', 60_000)).toBeDefined();
  });
});

describe('key rotation', () => {
  it('opening with a new key and the old one as previous re-encrypts everything, so the old key can be dropped', async () => {
    const before = openStore(ringA);
    await before.insert(connection());
    await before.close();

    const rotating = openStore({ current: ringB.current, previous: [ringA.current] });
    expect((await rotating.get('me'))?.tokens.refreshToken).toBe(REFRESH);
    await rotating.close();

    const after = openStore(ringB);
    const read = await after.get('me');
    expect(read?.tokens.refreshToken).toBe(REFRESH);
    expect(read?.tokens.accessToken).toBe(ACCESS);
    expect(read?.clientSecret).toBe(SECRET);
    await after.close();
    expect(() => openStore(ringA)).toThrow(/encrypted with key/);
  });
});
