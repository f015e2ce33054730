import { SecretClient } from '@azure/keyvault-secrets';
import { openKeyVaultStore, type KeyVaultStore } from '../../src/stores/keyvault/index.ts';
import type { Azurite } from '../azure/azurite.ts';
import { startFakeKeyVault, type TestCertificate } from '../fakes/keyvault/index.ts';
import type { StoreCapabilities, StoreFixture, StoredPlace } from './contract.ts';

export const keyVaultCapabilities: StoreCapabilities = {
  sealing: 'backend',
  deadHolderTakeover: false,
  lockedWrites: false,
};

/** The secret holding a place's value (connections other than the seed one prefix the seed's names). */
function secretOf(place: StoredPlace): string {
  const names: Partial<Record<StoredPlace['column'], string>> = {
    refresh_token: 'RefreshToken',
    access_token: 'AccessToken',
  };
  const base = names[place.column];
  if (!base) throw new Error(`the Key Vault fixture cannot move ${place.column}`);
  return `${place.name}-${base}`;
}

/**
 * A fresh fake vault (trusting `certificate` is the caller's business), locks in the shared Azurite: the vault's
 * host scopes the lock blobs, so cases do not meet.
 */
export async function keyVaultFixture(azurite: Azurite, certificate: TestCertificate): Promise<StoreFixture> {
  const kv = await startFakeKeyVault({ certificate });
  const spec = `keyvault://${kv.host}`;
  const env = { AzureWebJobsStorage: azurite.connectionString };
  const credential = {
    getToken: async () => ({ token: kv.acceptedToken, expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
  const opened: KeyVaultStore[] = [];
  const open = async () => {
    const store = await openKeyVaultStore(spec, { env, credential });
    opened.push(store);
    return store;
  };
  const secrets = new SecretClient(kv.url, credential, { disableChallengeResourceVerification: true });
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
    // Key Vault holds no tokenkeeper envelopes: a keyring is no input of the store.
    open: () => open(),
    snapshot: everything,
    atRest: async () => JSON.stringify(await everything()),
    async copyStored(from, to) {
      kv.seed(secretOf(to), (await secrets.getSecret(secretOf(from))).value ?? '');
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
}
