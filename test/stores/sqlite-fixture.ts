import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../../src/stores/sqlite-store.ts';
import type { ConnectionStore } from '../../src/stores/store.ts';
import { ringA, type StoreCapabilities, type StoreFixture } from './contract.ts';

export const sqliteCapabilities: StoreCapabilities = {
  sealing: 'envelope',
  rotation: 'on-open',
  deadHolderTakeover: true,
  lockedWrites: true,
};

/** A fresh SQLite file in a temp dir, and outside access to it as another tool would have it. */
export async function sqliteFixture(): Promise<StoreFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'tk-contract-sqlite-'));
  const path = join(dir, 'store', 'tokenkeeper.db');
  const opened: ConnectionStore[] = [];
  const raw = <T>(work: (db: DatabaseSync) => T): T => {
    const db = new DatabaseSync(path);
    try {
      return work(db);
    } finally {
      db.close();
    }
  };
  const files = () =>
    [path, `${path}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file));
  return {
    async open(ring = ringA) {
      const store = SqliteStore.open({ path, keyring: ring });
      opened.push(store);
      return store;
    },
    snapshot: async () => files().map((bytes) => bytes.toString('base64')),
    atRest: async () =>
      files()
        .map((bytes) => bytes.toString('latin1'))
        .join('\n'),
    async copyStored(from, to) {
      raw((db) =>
        db
          .prepare(
            `UPDATE connections SET ${to.column} = (SELECT ${from.column} FROM connections WHERE name = ?) WHERE name = ?`,
          )
          .run(from.name, to.name),
      );
    },
    storedRow: async (name) => raw((db) => db.prepare('SELECT * FROM connections WHERE name = ?').get(name)),
    shortLockTtlMs: 1,
    // The lock's expiry is on this process's clock: a 1 ms lock has lapsed by the next attempt.
    letLockLapse: async () => undefined,
    async plantLockHolder(name, { host, pid }) {
      raw((db) =>
        db
          .prepare(
            `INSERT INTO locks (name, owner, host, pid, fence, expires_at) VALUES (?, 'crashed', ?, ?, 7, ?)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
               expires_at = excluded.expires_at`,
          )
          .run(name, host, pid, Date.now() + 3_600_000),
      );
    },
    async close() {
      for (const store of opened.splice(0)) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
