import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import { BlobRescueJournal } from './blob-journal.ts';
import { openLockStorage } from './blob-lease.ts';
import { defaultAzureCredential } from './credential.ts';
import { KeyVaultStore } from './keyvault-store.ts';
import { parseKeyVaultSpec } from './location.ts';

export { BlobRescueJournal } from './blob-journal.ts';
export { KeyVaultStore } from './keyvault-store.ts';
export { parseKeyVaultSpec, type KeyVaultLocation } from './location.ts';

export interface OpenKeyVaultStoreOptions {
  env?: NodeJS.ProcessEnv;
  /** Retries of one Key Vault request on 429/503 (honouring Retry-After) and 5xx; the SDK default is 3. */
  maxRetries?: number;
  /** The Microsoft Entra credential for the vault and for blob locks given as a URL; default DefaultAzureCredential. */
  credential?: TokenCredential;
}

/**
 * Opens `keyvault://NAME[?options]`: secrets through @azure/keyvault-secrets with the given credential
 * (default DefaultAzureCredential), locks
 * as blob leases in TOKENKEEPER_LOCK_STORAGE / AzureWebJobsStorage, and the rescue journal in the same container.
 */
export async function openKeyVaultStore(
  spec: string,
  options: OpenKeyVaultStoreOptions = {},
): Promise<KeyVaultStore> {
  const env = options.env ?? process.env;
  const location = parseKeyVaultSpec(spec);
  let credential: Promise<TokenCredential> | undefined;
  const sharedCredential = () =>
    (credential ??= options.credential ? Promise.resolve(options.credential) : defaultAzureCredential());
  const locks = await openLockStorage(
    env,
    location.lockContainer,
    new URL(location.vaultUrl).host.replace(/[^a-zA-Z0-9.-]/g, '-'),
    sharedCredential,
  );
  const client = new SecretClient(location.vaultUrl, await sharedCredential(), {
    // The challenge's resource is vault.azure.net, which a loopback emulator's host can never match.
    disableChallengeResourceVerification: location.loopback,
    retryOptions: { maxRetries: options.maxRetries ?? 3 },
  });
  return new KeyVaultStore({
    client,
    locks,
    location,
    // The data dir of a Functions instance is its own (Flex Consumption): rescued tokens go next to the locks.
    rescueJournal: (keyring) => new BlobRescueJournal(locks.storage(), keyring),
  });
}
