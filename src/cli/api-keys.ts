import { ApiKeyStore, apiKeyStorePath } from '../api-keys/api-key-store.ts';

/** Opens the data dir's API key store (keys and login tickets) for one piece of work, and always closes it. */
export function withApiKeys<T>(dataDir: string, work: (store: ApiKeyStore) => T): T {
  const store = ApiKeyStore.open(apiKeyStorePath(dataDir));
  try {
    return work(store);
  } finally {
    store.close();
  }
}
