import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import { BlobRescueJournal } from './blob-journal.ts';
import { openLockStorage } from './blob-lease.ts';
import { BlobNoticeMarkers } from './blob-notice-markers.ts';
import { storeCredentials } from './credential.ts';
import { KeyVaultStore } from './keyvault-store.ts';
import { parseKeyVaultSpec, type KeyVaultSettings } from './location.ts';

export { BlobRescueJournal } from './blob-journal.ts';
export { KeyVaultStore } from './keyvault-store.ts';
export { parseKeyVaultSpec, type KeyVaultLocation } from './location.ts';

export interface OpenKeyVaultStoreOptions {
  env?: NodeJS.ProcessEnv;
  /** Retries of one Key Vault request on 429/503 (honouring Retry-After) and 5xx; the SDK default is 3. */
  maxRetries?: number;
  /** The Microsoft Entra credential for the vault and blob locks; default: chosen from env (credential.ts). */
  credential?: TokenCredential;
  /** The config's keyVault section: per-connection secret names, account tags. */
  settings?: KeyVaultSettings;
}

/**
 * Opens `keyvault://NAME[?options]`: secrets through @azure/keyvault-secrets with the given credential
 * (default: Managed Identity in Azure, DefaultAzureCredential elsewhere; see credential.ts), locks
 * as blob leases in TOKENKEEPER_LOCK_STORAGE / AzureWebJobsStorage, and the rescue journal in the same container.
 */
export async function openKeyVaultStore(
  spec: string,
  options: OpenKeyVaultStoreOptions = {},
): Promise<KeyVaultStore> {
  const env = options.env ?? process.env;
  const location = parseKeyVaultSpec(spec, options.settings);
  const credentials = storeCredentials(env, options.credential);
  const locks = await openLockStorage(
    env,
    location.lockContainer,
    new URL(location.vaultUrl).host.replace(/[^a-zA-Z0-9.-]/g, '-'),
    credentials.vault,
    credentials.webJobsStorage,
  );
  const client = new SecretClient(location.vaultUrl, await credentials.vault(), {
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
    noticeMarkers: () => new BlobNoticeMarkers(locks.storage()),
  });
}
