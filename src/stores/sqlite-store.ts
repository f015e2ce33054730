import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { TokenkeeperError, VersionConflictError } from '../core/errors.ts';
import type { DeliveryOutbox } from '../core/outbox.ts';
import type { Connection, NewConnection } from '../core/types.ts';
import type { Keyring } from '../crypto/envelope.ts';
import type { CreatedPaths } from '../files/owned-path.ts';
import { openSqliteFile, sqliteChangeStamp } from '../files/sqlite-file.ts';
import { localIdentity, processAlive } from './process-identity.ts';
import {
  CONNECTION_COLUMNS,
  connectionFromColumns,
  connectionToColumns,
  SEALED_COLUMNS,
  UPDATED_COLUMNS,
} from './connection-row.ts';
import { sealKeyCheck, verifyKeyCheck } from './key-check.ts';
import { SqliteOutbox, sqliteOutboxSchema } from './sqlite-outbox.ts';
import { SqliteStatements } from './sqlite-statements.ts';
import type { ConnectionStore, LockedUpdate, LockHandle } from './store.ts';

const SCHEMA_VERSION = 1;

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS connections (
  name TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  grant_type TEXT NOT NULL DEFAULT 'refresh_token',
  client_id TEXT NOT NULL,
  client_secret TEXT,
  access_token TEXT,
  refresh_token TEXT,
  expires_at INTEGER,
  obtained_at INTEGER,
  scope TEXT,
  token_type TEXT,
  provider_user_id TEXT,
  refresh_token_expires_at INTEGER,
  refresh_token_issued_at INTEGER,
  status TEXT NOT NULL,
  pending_attempt_id TEXT,
  pending_refresh_token TEXT,
  pending_started_at INTEGER,
  pending_owner TEXT,
  failure_count INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  last_error_at INTEGER,
  last_refresh_at INTEGER,
  next_attempt_at INTEGER,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
  name TEXT PRIMARY KEY,
  owner TEXT,
  host TEXT,
  pid INTEGER,
  fence INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
`;

type Row = Record<string, SQLInputValue>;

export interface SqliteStoreOptions {
  path: string;
  keyring: Keyring;
  /** How long a writer waits for another process's transaction (ms). */
  busyTimeoutMs?: number;
  now?: () => number;
  /** The data dir: a store file directly inside it is opened only once the data dir is accepted as tokenkeeper's. */
  dataDir?: string;
  /** Receives the paths this open created, so a caller's failed open can remove them again. */
  created?: CreatedPaths;
}

/**
 * The embedded default store: one SQLite file (WAL, synchronous=FULL so a commit survives power loss), secrets
 * encrypted per field with the connection name and field bound in. Locks are rows with an owner, host, pid and
 * expiry; a lock whose owner process is gone (same host, pid not alive) is taken over at once, so a crashed
 * refresher is recovered without waiting for its lease to run out.
 */
export class SqliteStore implements ConnectionStore {
  readonly location: string;
  private readonly db: DatabaseSync;
  private readonly keyring: Keyring;
  private readonly now: () => number;
  private readonly host = localIdentity();
  private readonly sql: SqliteStatements;

  private constructor(path: string, db: DatabaseSync, keyring: Keyring, now: () => number) {
    this.location = path;
    this.db = db;
    this.keyring = keyring;
    this.now = now;
    this.sql = new SqliteStatements(db, path);
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    const { path } = options;
    const db = openSqliteFile(path, {
      role: 'store',
      ownTable: 'meta',
      dataDir: options.dataDir,
      timeoutMs: options.busyTimeoutMs ?? 10_000,
      created: options.created,
      setup: (opened) => {
        opened.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;');
        opened.exec(schema);
        opened.exec(sqliteOutboxSchema);
        addMissingColumns(opened);
      },
    });
    const store = new SqliteStore(path, db, options.keyring, options.now ?? Date.now);
    try {
      store.checkSchemaAndKey();
    } catch (error) {
      db.close();
      throw error;
    }
    return store;
  }

  /** Refuses a store written by a newer tokenkeeper or with another key, before anything can be overwritten. */
  private checkSchemaAndKey(): void {
    this.transaction(() => {
      const version = this.meta('schema_version');
      if (version === undefined) this.setMeta('schema_version', String(SCHEMA_VERSION));
      else if (Number(version) > SCHEMA_VERSION) {
        throw new TokenkeeperError(
          'store',
          `store ${this.location} has schema version ${version}, newer than this tokenkeeper understands (${SCHEMA_VERSION}): upgrade tokenkeeper`,
        );
      }
      const check = this.meta('key_check');
      if (check === undefined) {
        this.setMeta('key_check', sealKeyCheck(this.keyring));
        return;
      }
      if (!verifyKeyCheck(this.keyring, check, this.location).sealedWithCurrent) this.reencryptAll();
    });
  }

  /**
   * Key rotation: the store was written with a previous key, so every sealed field is re-encrypted with the
   * current one in the same transaction. Afterwards the previous key is no longer needed.
   */
  private reencryptAll(): void {
    const reseal = this.sql.statement(
      `UPDATE connections SET ${SEALED_COLUMNS.map((column) => `${column} = :${column}`).join(', ')} WHERE name = :name`,
    );
    for (const row of this.sql.statement('SELECT * FROM connections').all() as Row[]) {
      const sealed = connectionToColumns(this.fromRow(row), this.keyring);
      reseal.run({
        name: sealed.name,
        ...Object.fromEntries(SEALED_COLUMNS.map((column) => [column, sealed[column]])),
      });
    }
    this.setMeta('key_check', sealKeyCheck(this.keyring));
  }

  private meta(key: string): string | undefined {
    const row = this.sql.statement('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  private setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  private transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  async get(name: string): Promise<Connection | undefined> {
    return this.sql.guard('read', () => {
      const row = this.sql.statement('SELECT * FROM connections WHERE name = ?').get(name) as Row | undefined;
      return row ? this.fromRow(row) : undefined;
    });
  }

  /** Store-wide: any write to the file, by this connection or another, moves it. */
  async changeStamp(): Promise<string> {
    return this.sql.guard('read', () => sqliteChangeStamp((sql) => this.sql.statement(sql)));
  }

  async list(): Promise<Connection[]> {
    return this.sql.guard('read', () =>
      (this.sql.statement('SELECT * FROM connections ORDER BY name').all() as Row[]).map((row) =>
        this.fromRow(row),
      ),
    );
  }

  async expiringBefore(at: number, providers: readonly string[] = []): Promise<Connection[]> {
    return this.sql.guard('read', () =>
      (
        this.sql
          .statement(
            `SELECT * FROM connections
           WHERE refresh_token_expires_at <= ? OR provider IN (SELECT value FROM json_each(?))
           ORDER BY name`,
          )
          .all(at, JSON.stringify(providers)) as Row[]
      ).map((row) => this.fromRow(row)),
    );
  }

  async insert(connection: NewConnection): Promise<Connection> {
    return this.sql.guard('write to', () => {
      const now = this.now();
      const stored: Connection = { ...connection, version: 1, createdAt: now, updatedAt: now };
      try {
        this.sql
          .statement(
            `INSERT INTO connections (${CONNECTION_COLUMNS.join(', ')}) VALUES (${CONNECTION_COLUMNS.map((c) => `:${c}`).join(', ')})`,
          )
          .run(connectionToColumns(stored, this.keyring));
      } catch (error) {
        if (/UNIQUE constraint failed/.test((error as Error).message)) {
          throw new TokenkeeperError(
            'already_exists',
            `connection "${connection.name}" already exists: pick another --name or remove it first`,
          );
        }
        throw error;
      }
      return stored;
    });
  }

  async update(connection: Connection): Promise<Connection> {
    return this.sql.guard('write to', () => {
      const stored = this.writeIfVersion(connection);
      if (!stored) throw new VersionConflictError(connection.name, connection.version);
      return stored;
    });
  }

  /** The compare-and-swap of `update`: the connection as written, or undefined when the version moved. */
  private writeIfVersion(connection: Connection): Connection | undefined {
    const stored: Connection = { ...connection, version: connection.version + 1, updatedAt: this.now() };
    const { created_at: _createdAt, ...row } = connectionToColumns(stored, this.keyring);
    const assignments = UPDATED_COLUMNS.map((column) => `${column} = :${column}`);
    const result = this.sql
      .statement(
        `UPDATE connections SET ${assignments.join(', ')} WHERE name = :name AND version = :expected_version`,
      )
      .run({ ...row, expected_version: connection.version });
    return Number(result.changes) === 1 ? stored : undefined;
  }

  async delete(name: string): Promise<boolean> {
    return this.sql.guard('delete from', () =>
      this.transaction(() => {
        this.sql.statement('DELETE FROM locks WHERE name = ?').run(name);
        return Number(this.sql.statement('DELETE FROM connections WHERE name = ?').run(name).changes) === 1;
      }),
    );
  }

  async tryLock(name: string, owner: string, ttlMs: number): Promise<LockHandle | undefined> {
    return this.sql.guard('take a lock in', () => this.transaction(() => this.takeLock(name, owner, ttlMs)));
  }

  /** One BEGIN IMMEDIATE transaction (the file's write lock is held throughout): the version read, then both writes. */
  async lockAndUpdate(
    connection: Connection,
    owner: string,
    ttlMs: number,
  ): Promise<LockedUpdate | undefined> {
    return this.sql.guard('take a lock and write to', () =>
      this.transaction(() => {
        const row = this.sql
          .statement('SELECT version FROM connections WHERE name = ?')
          .get(connection.name) as { version: number } | undefined;
        if (row?.version !== connection.version) return undefined;
        const handle = this.takeLock(connection.name, owner, ttlMs);
        if (!handle) return undefined;
        return { handle, connection: this.writeIfVersion(connection) as Connection };
      }),
    );
  }

  async updateAndUnlock(connection: Connection, handle: LockHandle): Promise<Connection | undefined> {
    return this.sql.guard('write to', () =>
      this.transaction(() => {
        const held = this.sql
          .statement('SELECT 1 FROM locks WHERE name = ? AND owner = ? AND fence = ?')
          .get(handle.name, handle.owner, handle.fence);
        if (!held) return undefined;
        const stored = this.writeIfVersion(connection);
        if (!stored) throw new VersionConflictError(connection.name, connection.version);
        this.unlock(handle);
        return stored;
      }),
    );
  }

  /** Takes the lock if it is free, expired, or held by a dead process of this host; call it in a transaction. */
  private takeLock(name: string, owner: string, ttlMs: number): LockHandle | undefined {
    const now = Date.now();
    const row = this.sql.statement('SELECT * FROM locks WHERE name = ?').get(name) as
      | {
          owner: string | null;
          host: string | null;
          pid: number | null;
          fence: number;
          expires_at: number;
        }
      | undefined;
    const free =
      !row ||
      row.owner === null ||
      row.expires_at <= now ||
      (row.host === this.host && row.pid !== null && !processAlive(row.pid));
    if (!free) return undefined;
    const fence = (row?.fence ?? 0) + 1;
    const expiresAt = now + ttlMs;
    this.sql
      .statement(
        `INSERT INTO locks (name, owner, host, pid, fence, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
           fence = excluded.fence, expires_at = excluded.expires_at`,
      )
      .run(name, owner, this.host, process.pid, fence, expiresAt);
    return { name, owner, fence, expiresAt };
  }

  async renewLock(handle: LockHandle, ttlMs: number): Promise<boolean> {
    return this.sql.guard('renew a lock in', () => {
      const expiresAt = Date.now() + ttlMs;
      const result = this.sql
        .statement('UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ? AND fence = ?')
        .run(expiresAt, handle.name, handle.owner, handle.fence);
      if (Number(result.changes) !== 1) return false;
      handle.expiresAt = expiresAt;
      return true;
    });
  }

  async releaseLock(handle: LockHandle): Promise<void> {
    this.sql.guard('release a lock in', () => this.unlock(handle));
  }

  private unlock(handle: LockHandle): void {
    this.sql
      .statement(
        'UPDATE locks SET owner = NULL, pid = NULL, expires_at = 0 WHERE name = ? AND owner = ? AND fence = ?',
      )
      .run(handle.name, handle.owner, handle.fence);
  }

  /** The webhook outbox: a table in this file, so pending deliveries survive restarts. */
  openOutbox(): DeliveryOutbox {
    return new SqliteOutbox(this.sql);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }

  private fromRow(row: Row): Connection {
    return connectionFromColumns(row, this.keyring);
  }
}

/** Columns added after a store file may have been created (CREATE TABLE IF NOT EXISTS does not add them). */
function addMissingColumns(db: DatabaseSync): void {
  const columns = new Set(
    (db.prepare('PRAGMA table_info(connections)').all() as Array<{ name: string }>).map(
      (column) => column.name,
    ),
  );
  if (!columns.has('grant_type')) {
    db.exec("ALTER TABLE connections ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'refresh_token'");
  }
  if (!columns.has('refresh_token_expires_at')) {
    db.exec('ALTER TABLE connections ADD COLUMN refresh_token_expires_at INTEGER');
  }
  if (!columns.has('refresh_token_issued_at')) {
    db.exec('ALTER TABLE connections ADD COLUMN refresh_token_issued_at INTEGER');
  }
}
