// The PostgreSQL outbox passes the same contract in test/postgres/outbox.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/stores/sqlite-store.ts';
import { MemoryOutbox } from '../../src/webhooks/memory-outbox.ts';
import { ringA } from './contract.ts';
import { defineOutboxContract } from './outbox-contract.ts';

defineOutboxContract('memory', async () => {
  const outbox = new MemoryOutbox();
  return { open: async () => outbox, openPeer: async () => outbox, close: async () => undefined };
});

defineOutboxContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tk-outbox-sqlite-'));
  const stores: SqliteStore[] = [];
  // Each handle is a store of its own on the file, as another process opens it.
  const open = async () => {
    const store = SqliteStore.open({ path: join(dir, 'tokenkeeper.db'), keyring: ringA });
    stores.push(store);
    return store.openOutbox();
  };
  return {
    open,
    openPeer: open,
    async close() {
      for (const store of stores) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
