import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll } from 'vitest';
import { openKeyVaultStore, TEST_TOKEN_ENV, type KeyVaultStore } from '../../src/stores/keyvault/index.ts';
import { startAzurite, type Azurite } from '../azure/azurite.ts';
import { trustCertificate } from '../azure/harness.ts';
import { createTestCertificate, startFakeKeyVault, type TestCertificate } from '../fakes/keyvault/index.ts';
import { defineStoreContract, type StoredPlace, type StoreFixture } from './contract.ts';

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

/** The secret a place's value lives in (non-seed connections prefix the seed's names). */
function secretOf(place: StoredPlace): string {
  const names: Partial<Record<StoredPlace['column'], string>> = {
    refresh_token: 'RefreshToken',
    access_token: 'AccessToken',
  };
  const base = names[place.column];
  if (!base) throw new Error(`the Key Vault fixture cannot move ${place.column}`);
  return `${place.name}-${base}`;
}

defineStoreContract(
  'Key Vault',
  { sealing: 'backend', deadHolderTakeover: false },
  async (): Promise<StoreFixture> => {
    // A fresh vault per case; its host also scopes the lock blobs in the shared Azurite.
    const kv = await startFakeKeyVault({ certificate });
    const spec = `keyvault://${kv.host}`;
    const env = { [TEST_TOKEN_ENV]: kv.acceptedToken, AzureWebJobsStorage: azurite.connectionString };
    const opened: KeyVaultStore[] = [];
    const open = async () => {
      const store = await openKeyVaultStore(spec, { env });
      opened.push(store);
      return store;
    };
    const secrets = new SecretClient(
      kv.url,
      { getToken: async () => ({ token: kv.acceptedToken, expiresOnTimestamp: Date.now() + 3_600_000 }) },
      { disableChallengeResourceVerification: true },
    );
    const everything = async () => {
      const names: string[] = [];
      for await (const properties of secrets.listPropertiesOfSecrets()) names.push(properties.name);
      names.sort();
      return Promise.all(
        names.map(async (name) => {
          const secret = await secrets.getSecret(name);
          return {
            name,
            version: secret.properties.version,
            value: secret.value,
            tags: secret.properties.tags,
          };
        }),
      );
    };
    let operator: KeyVaultStore | undefined;
    return {
      // Key Vault keeps no tokenkeeper envelopes: the keyring is not an input of the store.
      open: () => open(),
      snapshot: everything,
      atRest: async () => JSON.stringify(await everything()),
      async copyStored(from, to) {
        const value = (await secrets.getSecret(secretOf(from))).value ?? '';
        kv.seed(secretOf(to), value);
      },
      shortLockTtlMs: 15_000,
      async letLockLapse(handle) {
        operator ??= await open();
        await operator.breakLock(handle.name);
      },
      async close() {
        for (const store of opened.splice(0)) await store.close().catch(() => undefined);
        await kv.close();
      },
    };
  },
);
