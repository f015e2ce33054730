import type { TokenCredential } from '@azure/identity';
import type { ConfigFile } from '../config/schema.ts';
import { TokenkeeperError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Keyring } from '../crypto/envelope.ts';
import type { CreatedPaths } from '../files/owned-path.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { ConnectionStore } from './store.ts';

export interface StoreContext {
  keyring: Keyring;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Receives the files and directories opening created, so a failed open of the keeper can remove them. */
  created?: CreatedPaths;
  /** For keyvault:// stores: the Microsoft Entra credential; default chosen from env (stores/keyvault/credential.ts). */
  azureCredential?: TokenCredential;
  /** For keyvault:// stores: the config's keyVault section. */
  keyVault?: ConfigFile['keyVault'];
}

/**
 * Opens the store named by a spec: a SQLite file path (the embedded default), or a URL whose scheme picks
 * another store. Other stores are imported only when used, so the CLI does not load their SDKs otherwise.
 */
export async function openStore(spec: string, context: StoreContext): Promise<ConnectionStore> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const { keyring, dataDir, created } = context;
    return SqliteStore.open({ path: spec, keyring, dataDir, created });
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { PostgresStore } = await import('./postgres/postgres-store.ts');
    return PostgresStore.open({ spec, keyring: context.keyring });
  }
  if (scheme === 'keyvault') {
    const { openKeyVaultStore } = await import('./keyvault/index.ts');
    return openKeyVaultStore(spec, {
      env: context.env,
      credential: context.azureCredential,
      ...(context.keyVault && { settings: context.keyVault }),
    });
  }
  throw new TokenkeeperError(
    'config',
    `unsupported store "${scheme}://…": use a SQLite file path (the default), postgres://… or keyvault://…`,
  );
}
