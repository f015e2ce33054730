import type pg from 'pg';
import { TokenkeeperError, VersionConflictError } from '../../core/errors.ts';
import { defaultExpiryPolicy, nextRefreshAt, stableFraction } from '../../core/expiry.ts';
import type { DeliveryOutbox } from '../../core/outbox.ts';
import { needsHuman, type Connection, type NewConnection } from '../../core/types.ts';
import type { Keyring } from '../../crypto/envelope.ts';
import { connectionFromColumns, SEALED_COLUMNS } from '../connection-row.ts';
import { sealKeyCheck, verifyKeyCheck } from '../key-check.ts';
import type { ConnectionStore, FleetMember, LockedUpdate, LockHandle } from '../store.ts';
import { dbNow, PostgresFleetMember } from './fleet.ts';
import { localIdentity, processAlive } from '../process-identity.ts';
import { applyMigrations, readMigrationState } from './migrate.ts';
import {
  connectionValues,
  PG_CONNECTION_COLUMNS,
  PG_UPDATED_COLUMNS,
  type ConnectionRow,
  type RefreshPlanner,
} from './rows.ts';
import { PostgresOutbox } from './outbox.ts';
import { pgErrorMessage } from './pg-error.ts';
import { createPool } from './pool.ts';
import { parsePostgresSpec, quoteIdent, type PostgresSettings } from './settings.ts';

const INSERT_BATCH = 1000;

export interface PostgresStoreOptions {
  /** postgres://… or postgresql://… URL, with tokenkeeper's own parameters (see docs/postgres.md). */
  spec: string;
  keyring: Keyring;
}

/** The indexed due time of an attempt whose refresher crashed: below 0, the due time of a never-refreshed one. */
const CRASHED_ATTEMPT_DUE_AT = -1;

/** The due time the embedded scheduler would compute with the default expiry policy. */
const defaultPlanner: RefreshPlanner = (connection) =>
  nextRefreshAt(connection, defaultExpiryPolicy, () =>
    stableFraction(`${connection.name}:${connection.tokens.expiresAt ?? 0}`),
  );

/**
 * Connections in PostgreSQL, for many connections and many workers. Secrets are sealed per field exactly as in
 * the embedded store; `update` is a compare-and-swap on `version`; refresh locks are rows with owner, host, pid,
 * fence and an expiry on the database clock. Each row carries `next_refresh_at`, indexed, so a fleet of daemons
 * claims only what is due (`joinFleet`) instead of reading every connection.
 */
export class PostgresStore implements ConnectionStore {
  readonly location: string;
  readonly settings: PostgresSettings;
  private readonly pool: pg.Pool;
  private readonly keyring: Keyring;
  private readonly table: {
    connections: string;
    locks: string;
    workers: string;
    meta: string;
    outbox: string;
  };
  private readonly host = localIdentity();
  private readonly members = new Set<PostgresFleetMember>();
  private planner: RefreshPlanner = defaultPlanner;
  private closed = false;

  private constructor(settings: PostgresSettings, pool: pg.Pool, keyring: Keyring) {
    this.settings = settings;
    this.location = settings.location;
    this.pool = pool;
    this.keyring = keyring;
    const schema = quoteIdent(settings.schema);
    this.table = {
      connections: `${schema}.connections`,
      locks: `${schema}.locks`,
      workers: `${schema}.workers`,
      meta: `${schema}.meta`,
      outbox: `${schema}.webhook_outbox`,
    };
  }

  /** Connects, applies pending migrations (unless `migrate=false`), and checks the encryption key. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const settings = parsePostgresSpec(options.spec);
    const pool = createPool(settings);
    const store = new PostgresStore(settings, pool, options.keyring);
    try {
      await store.guard('connect', async () => {
        if (settings.migrate) await applyMigrations(pool, settings.schema);
        else {
          const state = await readMigrationState(pool, settings.schema);
          if (state.pending.length > 0) {
            throw new TokenkeeperError(
              'store',
              `PostgreSQL schema "${settings.schema}" lacks migration(s) ${state.pending.map((m) => m.version).join(', ')}: run \`tokenkeeper migrate --store <url>\` (or drop migrate=false from the URL)`,
            );
          }
        }
      });
      await store.checkKey();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  /** Refuses a store sealed with another key before anything can be overwritten. */
  private async checkKey(): Promise<void> {
    const check = await this.guard('key check', async () => {
      await this.pool.query(
        `INSERT INTO ${this.table.meta} (key, value) VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING`,
        [sealKeyCheck(this.keyring)],
      );
      const result = await this.pool.query<{ value: string }>(
        `SELECT value FROM ${this.table.meta} WHERE key = 'key_check'`,
      );
      return result.rows[0]?.value ?? '';
    });
    const { keyId, sealedWithCurrent } = verifyKeyCheck(this.keyring, check, this.location);
    if (!sealedWithCurrent) await this.adoptCurrentKeyIfUnused(keyId);
  }

  /**
   * Key rotation without a stop-the-world rewrite: every write seals all fields with the current key, so once
   * no value is sealed with an older key (typically after one refresh cycle), the key check moves to the current
   * key and the previous one is no longer needed.
   */
  private async adoptCurrentKeyIfUnused(oldKeyId: string): Promise<void> {
    await this.guard('key rotation check', async () => {
      const stale = await this.pool.query(
        `SELECT 1 FROM ${this.table.connections}
         WHERE ${SEALED_COLUMNS.map((column) => `split_part(${column}, '.', 2) <> $1`).join(' OR ')} LIMIT 1`,
        [this.keyring.current.id],
      );
      if (stale.rowCount !== 0) return;
      await this.pool.query(
        `UPDATE ${this.table.meta} SET value = $1 WHERE key = 'key_check' AND split_part(value, '.', 2) = $2`,
        [sealKeyCheck(this.keyring), oldKeyId],
      );
    });
  }

  setRefreshPlanner(plan: RefreshPlanner): void {
    this.planner = plan;
  }

  /**
   * The indexed due time: NULL for connections no scheduler may pick up; before every real due time — first in
   * line — for an attempt whose outcome was never saved (its refresher crashed between write-ahead and save),
   * because the spent refresh token must be retried within the provider's grace window (Fitbit: 2 minutes),
   * whatever the backlog. Not 0: a connection never refreshed (imported, no access token) is due at 0, and a
   * backlog of those would tie with it and go first (index order among equal keys), past the grace window.
   */
  private plan = (connection: Connection): number | undefined => {
    if (needsHuman(connection.status)) return undefined;
    if (connection.status === 'refreshing' && connection.pending) return CRASHED_ATTEMPT_DUE_AT;
    return this.planner(connection);
  };

  async get(name: string): Promise<Connection | undefined> {
    return this.guard('read', async () => {
      const result = await this.pool.query<ConnectionRow>({
        name: 'tk-get',
        text: `SELECT ${PG_CONNECTION_COLUMNS.join(', ')} FROM ${this.table.connections} WHERE name = $1`,
        values: [name],
      });
      const row = result.rows[0];
      return row ? connectionFromColumns(row, this.keyring) : undefined;
    });
  }

  /**
   * The row's version (every write of a connection's tokens or state goes through `update`, which bumps it) and the
   * transaction that wrote the row (`xmin`: a connection removed and added again starts at version 1 anew).
   */
  async changeStamp(name: string): Promise<string | undefined> {
    return this.guard('read', async () => {
      const result = await this.pool.query<{ version: string; writer: string }>({
        name: 'tk-change-stamp',
        text: `SELECT version, xmin::text AS writer FROM ${this.table.connections} WHERE name = $1`,
        values: [name],
      });
      const row = result.rows[0];
      return row ? `${row.version}:${row.writer}` : undefined;
    });
  }

  async list(): Promise<Connection[]> {
    return this.guard('list', async () => {
      const result = await this.pool.query<ConnectionRow>(
        `SELECT ${PG_CONNECTION_COLUMNS.join(', ')} FROM ${this.table.connections} ORDER BY name`,
      );
      return result.rows.map((row) => connectionFromColumns(row, this.keyring));
    });
  }

  async expiringBefore(at: number, providers: readonly string[] = []): Promise<Connection[]> {
    return this.guard('list', async () => {
      const result = await this.pool.query<ConnectionRow>(
        `SELECT ${PG_CONNECTION_COLUMNS.join(', ')} FROM ${this.table.connections}
         WHERE refresh_token_expires_at <= $1 OR provider = ANY($2::text[]) ORDER BY name`,
        [at, providers],
      );
      return result.rows.map((row) => connectionFromColumns(row, this.keyring));
    });
  }

  async overview(): Promise<{ connections: number; nextRefreshAt?: number }> {
    return this.guard('overview', async () => {
      const result = await this.pool.query<{ connections: string; next: string | null }>(
        `SELECT count(*) AS connections, min(next_refresh_at) AS next FROM ${this.table.connections}`,
      );
      const row = result.rows[0];
      return {
        connections: Number(row?.connections ?? 0),
        nextRefreshAt: row?.next === null || row?.next === undefined ? undefined : Number(row.next),
      };
    });
  }

  async insert(connection: NewConnection): Promise<Connection> {
    const [stored] = await this.insertMany([connection]);
    return stored as Connection;
  }

  /**
   * Inserts many connections, a thousand rows per statement, each batch in its own transaction (bulk imports
   * and benchmarks). Fails with `already_exists` if any name exists; batches before it stay inserted.
   */
  async insertMany(connections: readonly NewConnection[]): Promise<Connection[]> {
    const now = Date.now();
    const stored = connections.map((c): Connection => ({ ...c, version: 1, createdAt: now, updatedAt: now }));
    await this.guard('insert', async () => {
      for (let start = 0; start < stored.length; start += INSERT_BATCH) {
        const batch = stored.slice(start, start + INSERT_BATCH);
        const values = batch.flatMap((c) =>
          connectionValues(c, this.keyring, this.plan, PG_CONNECTION_COLUMNS),
        );
        const width = PG_CONNECTION_COLUMNS.length;
        const tuples = batch.map(
          (_, row) =>
            `(${PG_CONNECTION_COLUMNS.map((_c, column) => `$${row * width + column + 1}`).join(', ')})`,
        );
        try {
          await this.pool.query(
            `INSERT INTO ${this.table.connections} (${PG_CONNECTION_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`,
            values,
          );
        } catch (error) {
          if ((error as { code?: string }).code === '23505') {
            const name = batch.length === 1 ? `"${batch[0]?.name}"` : 'one of these names';
            throw new TokenkeeperError(
              'already_exists',
              `connection ${name} already exists: pick another --name or remove it first`,
            );
          }
          throw error;
        }
      }
    });
    return stored;
  }

  async update(connection: Connection): Promise<Connection> {
    return this.guard('write', async () => {
      const stored: Connection = { ...connection, version: connection.version + 1, updatedAt: Date.now() };
      const result = await this.pool.query({
        name: 'tk-update',
        text: `UPDATE ${this.table.connections} SET ${this.updatedAssignments(3)} WHERE name = $1 AND version = $2`,
        values: [
          connection.name,
          connection.version,
          ...connectionValues(stored, this.keyring, this.plan, PG_UPDATED_COLUMNS),
        ],
      });
      if (result.rowCount !== 1) throw new VersionConflictError(connection.name, connection.version);
      return stored;
    });
  }

  async delete(name: string): Promise<boolean> {
    return this.guard('delete', async () => {
      const result = await this.pool.query(
        `WITH unlocked AS (DELETE FROM ${this.table.locks} WHERE name = $1)
         DELETE FROM ${this.table.connections} WHERE name = $1`,
        [name],
      );
      return result.rowCount === 1;
    });
  }

  /**
   * Takes the lock if it is free, expired (database clock), or held by a process on this host that no longer
   * exists, so a crashed refresher on the same machine is recovered at once.
   */
  async tryLock(name: string, owner: string, ttlMs: number): Promise<LockHandle | undefined> {
    return this.guard('lock', async () => {
      const taken = await this.pool.query<{ fence: string; expires_at: string }>({
        name: 'tk-lock',
        text: `INSERT INTO ${this.table.locks} AS l (name, owner, host, pid, fence, expires_at)
               VALUES ($1, $2, $3, $4, 1, ${dbNow} + $5)
               ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, host = EXCLUDED.host, pid = EXCLUDED.pid,
                 fence = l.fence + 1, expires_at = EXCLUDED.expires_at
               WHERE l.owner IS NULL OR l.expires_at <= ${dbNow}
               RETURNING fence, expires_at`,
        values: [name, owner, this.host, process.pid, ttlMs],
      });
      let row = taken.rows[0];
      if (!row) {
        const holder = (
          await this.pool.query<{ host: string | null; pid: number | null; fence: string }>(
            `SELECT host, pid, fence FROM ${this.table.locks} WHERE name = $1`,
            [name],
          )
        ).rows[0];
        if (!holder || holder.host !== this.host || holder.pid === null || processAlive(holder.pid)) {
          return undefined;
        }
        row = (
          await this.pool.query<{ fence: string; expires_at: string }>(
            `UPDATE ${this.table.locks} SET owner = $2, host = $3, pid = $4, fence = fence + 1,
               expires_at = ${dbNow} + $5
             WHERE name = $1 AND fence = $6 RETURNING fence, expires_at`,
            [name, owner, this.host, process.pid, ttlMs, holder.fence],
          )
        ).rows[0];
        if (!row) return undefined;
      }
      return { name, owner, fence: Number(row.fence), expiresAt: Number(row.expires_at) };
    });
  }

  /**
   * One statement, so one round trip and all or nothing: the connection row is locked only if it still has the
   * expected version, the lock is taken only then (and only if free or expired), and the row is written only if
   * the lock was taken. A lock held by a dead process of this host is left to `tryLock`, which takes it over.
   */
  async lockAndUpdate(
    connection: Connection,
    owner: string,
    ttlMs: number,
  ): Promise<LockedUpdate | undefined> {
    return this.guard('lock and write', async () => {
      const stored: Connection = { ...connection, version: connection.version + 1, updatedAt: Date.now() };
      const result = await this.pool.query<{ fence: string; expires_at: string }>({
        name: 'tk-lock-and-update',
        text: `WITH current AS (
                 SELECT name FROM ${this.table.connections} WHERE name = $1 AND version = $2 FOR UPDATE
               ), locked AS (
                 INSERT INTO ${this.table.locks} AS l (name, owner, host, pid, fence, expires_at)
                 SELECT name, $3, $4, $5::integer, 1, ${dbNow} + $6 FROM current
                 ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, host = EXCLUDED.host, pid = EXCLUDED.pid,
                   fence = l.fence + 1, expires_at = EXCLUDED.expires_at
                 WHERE l.owner IS NULL OR l.expires_at <= ${dbNow}
                 RETURNING fence, expires_at
               ), written AS (
                 UPDATE ${this.table.connections} SET ${this.updatedAssignments(7)}
                 WHERE name = $1 AND version = $2 AND EXISTS (SELECT 1 FROM locked)
               )
               SELECT fence, expires_at FROM locked`,
        values: [
          connection.name,
          connection.version,
          owner,
          this.host,
          process.pid,
          ttlMs,
          ...connectionValues(stored, this.keyring, this.plan, PG_UPDATED_COLUMNS),
        ],
      });
      const row = result.rows[0];
      if (!row) return undefined;
      const handle = {
        name: connection.name,
        owner,
        fence: Number(row.fence),
        expiresAt: Number(row.expires_at),
      };
      return { handle, connection: stored };
    });
  }

  /**
   * One statement, all or nothing: the connection is written only if `handle` still holds the lock (and only at
   * the expected version), and the lock is released only if it was. Rows are locked in the order `lockAndUpdate`
   * locks them, the connection's first, then the lock's: the opposite order deadlocks with a refresher whose
   * `lockAndUpdate` arrives during this save. A takeover committed meanwhile (which `lockAndUpdate` does with a
   * write, so the version check refuses it) leaves the new holder its lock, as a plain `update` would.
   */
  async updateAndUnlock(connection: Connection, handle: LockHandle): Promise<Connection | undefined> {
    return this.guard('write and unlock', async () => {
      const stored: Connection = { ...connection, version: connection.version + 1, updatedAt: Date.now() };
      const result = await this.pool.query<{ held: boolean; written: boolean }>({
        name: 'tk-update-and-unlock',
        text: `WITH held AS (
                 SELECT name FROM ${this.table.locks} WHERE name = $1 AND owner = $3 AND fence = $4
               ), written AS (
                 UPDATE ${this.table.connections} SET ${this.updatedAssignments(5)}
                 WHERE name = $1 AND version = $2 AND EXISTS (SELECT 1 FROM held)
                 RETURNING name
               ), released AS (
                 UPDATE ${this.table.locks} SET owner = NULL, pid = NULL, expires_at = 0
                 WHERE name = $1 AND owner = $3 AND fence = $4 AND EXISTS (SELECT 1 FROM written)
               )
               SELECT EXISTS (SELECT 1 FROM held) AS held, EXISTS (SELECT 1 FROM written) AS written`,
        values: [
          connection.name,
          connection.version,
          handle.owner,
          handle.fence,
          ...connectionValues(stored, this.keyring, this.plan, PG_UPDATED_COLUMNS),
        ],
      });
      const row = result.rows[0];
      if (!row?.held) return undefined;
      if (!row.written) throw new VersionConflictError(connection.name, connection.version);
      return stored;
    });
  }

  /** `column = $n, …` for every updated column, numbered from `first`. */
  private updatedAssignments(first: number): string {
    return PG_UPDATED_COLUMNS.map((column, index) => `${column} = $${index + first}`).join(', ');
  }

  async renewLock(handle: LockHandle, ttlMs: number): Promise<boolean> {
    return this.guard('lock renewal', async () => {
      const result = await this.pool.query<{ expires_at: string }>({
        name: 'tk-renew',
        text: `UPDATE ${this.table.locks} SET expires_at = ${dbNow} + $4
               WHERE name = $1 AND owner = $2 AND fence = $3 RETURNING expires_at`,
        values: [handle.name, handle.owner, handle.fence, ttlMs],
      });
      const row = result.rows[0];
      if (!row) return false;
      handle.expiresAt = Number(row.expires_at);
      return true;
    });
  }

  async releaseLock(handle: LockHandle): Promise<void> {
    await this.guard('lock release', async () => {
      await this.pool.query({
        name: 'tk-unlock',
        text: `UPDATE ${this.table.locks} SET owner = NULL, pid = NULL, expires_at = 0
               WHERE name = $1 AND owner = $2 AND fence = $3`,
        values: [handle.name, handle.owner, handle.fence],
      });
    });
  }

  async joinFleet(owner: string): Promise<FleetMember> {
    const member = await this.guard('joining the fleet', () =>
      PostgresFleetMember.join({
        pool: this.pool,
        connections: this.table.connections,
        workers: this.table.workers,
        owner,
        host: this.host,
        ttlMs: this.settings.workerTtlMs,
        guard: (what, work) => this.guard(what, work),
        onLeave: () => this.members.delete(member),
      }),
    );
    this.members.add(member);
    return member;
  }

  /** The webhook outbox every worker of the fleet shares. */
  openOutbox(): DeliveryOutbox {
    return new PostgresOutbox({
      pool: this.pool,
      table: this.table.outbox,
      guard: (what, work) => this.guard(what, work),
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const member of [...this.members]) await member.leave().catch(() => undefined);
    await this.pool.end();
  }

  private async guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof TokenkeeperError) throw error;
      throw new TokenkeeperError(
        'store',
        `store ${this.location}: ${what} failed: ${pgErrorMessage(error)}`,
        { cause: error },
      );
    }
  }
}
