import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiKeyStore, keyAllows } from '../../src/api-keys/api-key-store.ts';
import { createHarness, expectSuccess, type OnFinished } from '../cli/harness.ts';

function openStore(onFinished: OnFinished): ApiKeyStore {
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-keys-'));
  const store = ApiKeyStore.open(join(dir, 'sub', 'api-keys.db'));
  onFinished(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

describe.concurrent('API key store', () => {
  it('keeps only a hash in a 0600 file, verifies keys exactly and forgets revoked ones', async ({
    onTestFinished,
  }) => {
    const store = openStore(onTestFinished);
    const created = store.create({ scopes: ['me', 'other', 'me'], label: 'pipeline' });
    expect(created.key).toMatch(/^tkk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.scopes).toEqual(['me', 'other']);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    const secretPart = created.key.slice(-43);
    expect(readFileSync(store.path).includes(secretPart)).toBe(false);

    expect(await store.verify(created.key)).toMatchObject({
      id: created.id,
      label: 'pipeline',
      scopes: ['me', 'other'],
    });
    expect((await store.verify(`  ${created.key}\n`))?.id).toBe(created.id);
    const flipped = `${created.key.slice(0, -1)}${created.key.endsWith('A') ? 'B' : 'A'}`;
    expect(await store.verify(flipped)).toBeUndefined();
    expect(await store.verify(created.key.replace(created.id, '0'.repeat(12)))).toBeUndefined();
    expect(await store.verify('')).toBeUndefined();
    expect(store.list()[0]?.lastUsedAt).toBeGreaterThan(0);

    expect(store.revoke(created.id)).toBe(true);
    expect(await store.verify(created.key)).toBeUndefined();
    expect(store.revoke('ffffffffffff')).toBe(false);
    expect(store.list()).toEqual([
      expect.objectContaining({ id: created.id, revokedAt: expect.any(Number) }),
    ]);
  });

  it('scopes keys to connection names, or to all with "*"', async ({ onTestFinished }) => {
    const store = openStore(onTestFinished);
    const one = store.create({ scopes: ['me'] });
    const all = store.create({ scopes: ['me', '*'] });
    expect(all.scopes).toEqual(['*']);
    expect(keyAllows(one, 'me')).toBe(true);
    expect(keyAllows(one, 'other')).toBe(false);
    expect(keyAllows(all, 'other')).toBe(true);
    expect(() => store.create({ scopes: [] })).toThrow(/needs a scope/);
    expect(() => store.create({ scopes: ['../etc'] })).toThrow(/connection name "..\/etc" is invalid/);
  });

  it('`api-key` commands create (printed once), list and revoke keys', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const created = expectSuccess(await h.cli(['api-key', 'create', '--scope', 'me', '--label', 'grafana']));
    const key = created.stdout.trim();
    expect(key).toMatch(/^tkk_/);
    expect(created.stderr).toMatch(/cannot be shown again/);
    const id = key.slice(4, 16);

    const listed = expectSuccess(await h.cli(['api-key', 'list']));
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+grafana\\s+me\\s+\\S+ ago\\s+-\\s+active$`, 'm'));
    expect(listed.stdout).not.toContain(key.slice(-43));

    const json = JSON.parse(
      expectSuccess(await h.cli(['api-key', 'create', '--scope', '*', '--json'])).stdout,
    ) as {
      key: string;
      scopes: string[];
    };
    expect(json.scopes).toEqual(['*']);

    expectSuccess(await h.cli(['api-key', 'revoke', id]));
    expect(expectSuccess(await h.cli(['api-key', 'list'])).stdout).toMatch(
      new RegExp(`^${id}.*revoked$`, 'm'),
    );
    const unknown = await h.cli(['api-key', 'revoke', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no API key with id "nope"/);
    const noScope = await h.cli(['api-key', 'create']);
    expect(noScope.code).toBe(2);
    expect(noScope.stderr).toMatch(/required option '--scope <names...>'/);
    expect(statSync(join(h.home, 'api-keys.db')).mode & 0o777).toBe(0o600);
  });
});
