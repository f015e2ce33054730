import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSchedule, validateSchedule } from '../../src/azure/schedule.ts';
import { readFunctionSettings } from '../../src/azure/settings.ts';
import { openKeyVaultStore, parseKeyVaultSpec, type KeyVaultStore } from '../../src/stores/keyvault/index.ts';
import { createTestCertificate, type TestCertificate } from '../fakes/keyvault/index.ts';
import { defineStoreContract, rejection } from '../stores/contract.ts';
import { keyVaultCapabilities, keyVaultFixture } from '../stores/keyvault-fixture.ts';
import { startAzurite, type Azurite } from './azurite.ts';
import { KEY, startAzureWorld, trustCertificate, type AzureWorld } from './harness.ts';

// One Azurite and one trusted certificate for the file; every contract case gets a fresh fake vault.
let azurite: Azurite;
let certificate: TestCertificate;
beforeAll(async () => {
  certificate = createTestCertificate();
  trustCertificate(certificate);
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
  certificate?.dispose();
});

defineStoreContract('Key Vault', keyVaultCapabilities, () => keyVaultFixture(azurite, certificate));

// What every store shares (CAS, locks, outside writes caught, delete, list) is the contract above (test/stores).
describe('Key Vault store', () => {
  let world: AzureWorld;
  let store: KeyVaultStore;

  beforeAll(async () => {
    world = await startAzureWorld({ azurite, certificate });
    store = await openKeyVaultStore(world.storeSpec, { env: world.env, credential: world.credential });
  });
  afterAll(async () => {
    await store?.close();
    await world?.close();
  });

  const newConnection = (name: string, refreshToken = `rt-${name}`) => ({
    name,
    provider: 'fitbit',
    clientId: 'client-1',
    clientSecret: 'secret-1',
    tokens: { refreshToken },
    status: 'active' as const,
    failureCount: 0,
  });

  it('refuses a value over 25 KB before writing anything of the connection', async () => {
    const writes = world.kv.writes;
    const error = await rejection(store.insert(newConnection('big', 'x'.repeat(26 * 1024))));
    expect(error.message).toMatch(
      /"big-RefreshToken" is 26624 bytes; Key Vault allows at most 25600 \(25 KB\): nothing was written/,
    );
    expect(world.kv.writes).toBe(writes);
    expect(await store.get('big')).toBeUndefined();
  });

  it('keeps when the refresh token dies in the state secret; a state written before that field reads as timeless', async () => {
    const dies = Date.now() + 180 * 86_400_000;
    const base = newConnection('aged');
    const issued = dies - 180 * 86_400_000;
    await store.insert({
      ...base,
      tokens: { ...base.tokens, refreshTokenExpiresAt: dies, refreshTokenIssuedAt: issued },
    });
    const latest = world.kv.versionsOf('aged-TokenkeeperState')!.at(-1)!;
    const state = JSON.parse(latest.value) as { tokens: Record<string, unknown> };
    expect(state.tokens.refreshTokenExpiresAt).toBe(dies);
    expect((await store.get('aged'))?.tokens.refreshTokenExpiresAt).toBe(dies);
    expect((await store.get('aged'))?.tokens.refreshTokenIssuedAt).toBe(issued);
    delete state.tokens.refreshTokenExpiresAt;
    delete state.tokens.refreshTokenIssuedAt;
    world.kv.seed('aged-TokenkeeperState', JSON.stringify(state), {
      tags: latest.tags,
      contentType: latest.contentType,
    });
    const old = await store.get('aged');
    expect(old?.tokens.refreshToken).toBe('rt-aged');
    expect(old?.tokens.refreshTokenExpiresAt).toBeUndefined();
    expect(old?.tokens.refreshTokenIssuedAt).toBeUndefined();
  });

  it("a refresh cut off after the access-token write keeps when the refresh token dies, while that token is the state's", async () => {
    const dies = Date.now() + 90 * 86_400_000;
    const base = newConnection('half');
    await store.insert({
      ...base,
      tokens: { ...base.tokens, accessToken: 'at-1', refreshTokenExpiresAt: dies, providerUserId: 'USER01' },
    });
    // The crashed writer got as far as the access-token secret (a provider that does not rotate).
    world.kv.seed('half-AccessToken', 'at-2');
    const torn = (await store.get('half'))!;
    expect(torn.tokens.accessToken).toBe('at-2');
    expect(torn.tokens.refreshTokenExpiresAt).toBe(dies);
    expect(torn.tokens.providerUserId).toBe('USER01');
    // A new refresh token is not the one whose death the state knows.
    world.kv.seed('half-RefreshToken', 'rt-new');
    expect((await store.get('half'))!.tokens.refreshTokenExpiresAt).toBeUndefined();
  });

  it('a retired connection whose forced refresh was cut off after the refresh-token write reads as active', async () => {
    const saved = await store.insert(newConnection('revived', 'rt-1'));
    await store.update({
      ...saved,
      status: 'provider_retired',
      pending: { attemptId: 'a1', refreshToken: 'rt-1', startedAt: Date.now(), owner: 'crashed' },
    });
    expect((await store.get('revived'))?.pending?.attemptId).toBe('a1');
    world.kv.seed('revived-RefreshToken', 'rt-2');
    const after = (await store.get('revived'))!;
    expect(after).toMatchObject({ status: 'active', tokens: { refreshToken: 'rt-2' } });
    expect(after.pending).toBeUndefined();
  });

  it("a move to a client without a secret deletes the old client's credentials: they are never read back for it", async () => {
    const saved = await store.insert(newConnection('moved'));
    expect(world.kv.versionsOf('moved-FitbitCredentials')).toBeDefined();
    await store.update({
      ...saved,
      provider: 'google-health',
      clientId: 'public-client',
      clientSecret: undefined,
      tokens: { refreshToken: 'rt-google' },
    });
    const moved = (await store.get('moved'))!;
    expect(moved).toMatchObject({ provider: 'google-health', clientId: 'public-client' });
    expect(moved.clientSecret).toBeUndefined();
    expect(world.kv.versionsOf('moved-FitbitCredentials')).toBeUndefined();
    // A later client with a secret writes its credentials again.
    await store.update({ ...moved, clientId: 'client-2', clientSecret: 'secret-2' });
    expect(await store.get('moved')).toMatchObject({ clientId: 'client-2', clientSecret: 'secret-2' });
  });

  it('refuses a second connection of the same name (Key Vault names ignore case)', async () => {
    await store.insert(newConnection('twin'));
    const error = await rejection(store.insert(newConnection('TWIN')));
    expect(error.code).toBe('already_exists');
  });

  it('a seed vault without state: an outside rotation between read and write is caught too', async () => {
    world.kv.seed('RefreshToken', 'legacy-1');
    const read = (await store.get('fitbit'))!;
    expect(read.version).toBe(0);
    world.kv.seed('RefreshToken', 'legacy-2');
    expect((await rejection(store.update({ ...read, status: 'failing' }))).code).toBe('version_conflict');
  });

  it('a refresh cut off after the refresh-token write leaves the new token readable and the attempt closed', async () => {
    const saved = await store.insert(newConnection('torn', 'rt-1'));
    const pending = await store.update({
      ...saved,
      status: 'refreshing',
      pending: { attemptId: 'a1', refreshToken: 'rt-1', startedAt: Date.now(), owner: 'crashed' },
    });
    // The crashed writer got as far as the refresh-token secret.
    world.kv.seed('torn-RefreshToken', 'rt-2');
    const after = (await store.get('torn'))!;
    expect(after.tokens.refreshToken).toBe('rt-2');
    expect(after.pending).toBeUndefined();
    expect(after.status).toBe('active');
    // Above the version the interrupted writer held, so its late write is refused.
    expect(after.version).toBe(pending.version + 1);
  });

  it('remove deletes and purges the secrets, so the name can be used again', async () => {
    await store.insert(newConnection('gone'));
    expect(await store.delete('gone')).toBe(true);
    expect(await store.get('gone')).toBeUndefined();
    expect(world.kv.versionsOf('gone-RefreshToken')).toBeUndefined();
    await store.insert(newConnection('gone'));
    expect((await store.get('gone'))?.tokens.refreshToken).toBe('rt-gone');
  });

  it('409 Conflict: a deleted, recoverable secret needs a person; one being deleted is retried shortly', async () => {
    await store.insert({
      ...newConnection('soft'),
      tokens: { refreshToken: 'rt-soft', accessToken: 'at-soft' },
    });
    // Someone deletes the access-token secret without purging it: its name stays taken while recoverable.
    await (await world.secrets.beginDeleteSecret('soft-AccessToken')).pollUntilDone();
    const soft = (await store.get('soft'))!;
    const deleted = await rejection(
      store.update({
        ...soft,
        tokens: { ...soft.tokens, accessToken: 'at-new', expiresAt: Date.now() + 3_600_000 },
      }),
    );
    expect(deleted.message).toMatch(
      /secret "soft-AccessToken" is deleted but recoverable: recover it \(az keyvault secret recover\) or purge it \(az keyvault secret purge\)/,
    );

    world.kv.inject({
      match: (request) => request.method === 'PUT' && request.secretName === 'busy-RefreshToken',
      fault: {
        status: 409,
        body: {
          error: {
            code: 'Conflict',
            message: 'Secret busy-RefreshToken is currently being deleted.',
            innererror: { code: 'ObjectIsBeingDeleted' },
          },
        },
      },
      times: 2,
    });
    const saved = await store.insert(newConnection('busy'));
    expect((await store.get('busy'))?.tokens.refreshToken).toBe(saved.tokens.refreshToken);
  });

  // One holder at a time, fencing and takeover of a lapsed lease are in the store contract (test/stores).
  it('lock: renew fails once an operator broke the lease, even before anyone took it again', async () => {
    const held = await store.tryLock('locked', 'one', 15_000);
    expect(held).toBeDefined();
    await store.breakLock('locked');
    expect(await store.renewLock(held!, 15_000)).toBe(false);
  });

  it('says what to set when the lock storage is missing', async () => {
    const noLocks = await rejection(
      openKeyVaultStore(world.storeSpec, { env: {}, credential: world.credential }),
    );
    expect(noLocks.message).toMatch(/set TOKENKEEPER_LOCK_STORAGE \(or AzureWebJobsStorage\)/);
  });

  it('signs in with the credential it is given; no environment variable swaps in another token', async () => {
    const wrong = {
      getToken: async () => ({ token: 'not-the-vault-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const env = { ...world.env, TOKENKEEPER_TEST_AZURE_TOKEN: world.kv.acceptedToken };
    const unauthorized = await openKeyVaultStore(world.storeSpec, { env, credential: wrong });
    try {
      const denied = world.kv.requests.length;
      await expect(unauthorized.get('fitbit')).rejects.toThrow();
      const sent = world.kv.requests.slice(denied);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.every((request) => !request.authorized)).toBe(true);
    } finally {
      await unauthorized.close();
    }
  });
});

describe('store spec and function settings', () => {
  it('maps keyvault:// specs to vault URLs and the seed names', () => {
    expect(parseKeyVaultSpec('keyvault://my-tokens')).toMatchObject({
      vaultUrl: 'https://my-tokens.vault.azure.net',
      seedConnection: 'fitbit',
      seedNamed: false,
      mapping: {
        refreshToken: 'RefreshToken',
        accessToken: 'AccessToken',
        credentials: { kind: 'basic', secret: 'FitbitCredentials' },
      },
    });
    expect(parseKeyVaultSpec('keyvault://v1.vault.azure.cn').vaultUrl).toBe('https://v1.vault.azure.cn');
    expect(parseKeyVaultSpec('keyvault://127.0.0.1:8443?seed=').loopback).toBe(true);
    expect(
      parseKeyVaultSpec('keyvault://kv1?clientIdSecret=FitbitClientId&clientSecretSecret=FitbitClientSecret')
        .mapping.credentials,
    ).toEqual({ kind: 'split', clientId: 'FitbitClientId', clientSecret: 'FitbitClientSecret' });
    expect(() => parseKeyVaultSpec('keyvault://kv1?clientIdSecret=A')).toThrow(/go together/);
    expect(() => parseKeyVaultSpec('keyvault://localhost')).toThrow(/needs a port/);
    expect(() => parseKeyVaultSpec('keyvault://a--b')).toThrow(/3–24 letters/);
  });

  it('reads the schedule from the app setting, with the 15-minute default and the seed schedule as an option', () => {
    const base = { TOKENKEEPER_KEYVAULT: 'my-tokens', TOKENKEEPER_KEY: KEY };
    expect(readFunctionSettings(base)).toMatchObject({
      store: 'keyvault://my-tokens',
      schedule: '0 */15 * * * *',
      // Per instance: nothing durable lives there (never $HOME/data, which suggests a shared share).
      dataDir: join(tmpdir(), 'tokenkeeper'),
    });
    expect(readFunctionSettings({ ...base, TOKENKEEPER_SCHEDULE: '0 0 */6 * * *' }).schedule).toBe(
      '0 0 */6 * * *',
    );
    // Five fields are minutes first, seconds 0, as the Functions host reads them.
    expect(readFunctionSettings({ ...base, TOKENKEEPER_SCHEDULE: '*/15 * * * *' }).schedule).toBe(
      '*/15 * * * *',
    );
    expect(() => readFunctionSettings({ ...base, TOKENKEEPER_SCHEDULE: '15 * * *' })).toThrow(
      /six fields, seconds first/,
    );
    expect(() => readFunctionSettings({})).toThrow(/TOKENKEEPER_KEYVAULT/);
    expect(() => readFunctionSettings({ ...base, TOKENKEEPER_STORE: '/tmp/x.db' })).toThrow(
      /must be a keyvault/,
    );
    expect(parseSchedule('0 */15 * * * *').longestGapSeconds).toBe(900);
    expect(parseSchedule('0 0 */6 * * *').longestGapSeconds).toBe(21_600);
    expect(parseSchedule('0 30 2 * * *').longestGapSeconds).toBe(86_400);
    expect(validateSchedule(' 0  0 * * * * ')).toBe('0 0 * * * *');
  });

  it('requires TOKENKEEPER_KEY (one line, how to make one, a Key Vault reference): never a per-instance key file', () => {
    const base = { TOKENKEEPER_KEYVAULT: 'my-tokens' };
    const failure = (env: NodeJS.ProcessEnv) => {
      try {
        readFunctionSettings(env);
      } catch (error) {
        return error as Error & { code?: string };
      }
      throw new Error('accepted');
    };
    for (const [key, pattern] of [
      [undefined, /^TOKENKEEPER_KEY is not set: .*openssl rand -base64 32.*@Microsoft\.KeyVault\(SecretUri=/],
      ['  ', /^TOKENKEEPER_KEY is not set/],
      ['not-a-key', /^TOKENKEEPER_KEY is not a valid key .*openssl rand -base64 32.*Key Vault reference/],
      [
        '@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/TokenkeeperKey)',
        /^TOKENKEEPER_KEY is a Key Vault reference the platform did not resolve/,
      ],
    ] as const) {
      const error = failure({ ...base, TOKENKEEPER_KEY: key });
      expect(error.code).toBe('config');
      expect(error.message).toMatch(pattern);
      expect(error.message).not.toContain('\n');
      if (key) expect(error.message).not.toContain(key.trim() || '\u0000');
    }
    expect(
      readFunctionSettings({ ...base, TOKENKEEPER_KEY: Buffer.alloc(32, 7).toString('base64') }).store,
    ).toBe('keyvault://my-tokens');
  });
});
