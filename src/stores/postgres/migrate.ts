import type pg from 'pg';
import { TokenkeeperError } from '../../core/errors.ts';
import { latestVersion, migrations, type Migration } from './migrations/index.ts';
import { pgErrorMessage } from './pg-error.ts';
import { createPool } from './pool.ts';
import { parsePostgresSpec, quoteIdent } from './settings.ts';

export interface MigrationState {
  schema: string;
  /** Versions recorded in schema_migrations, ascending. */
  applied: number[];
  /** Known migrations not yet applied, ascending. */
  pending: Array<Pick<Migration, 'version' | 'name'>>;
  /** Versions applied by this call. */
  appliedNow: number[];
  latest: number;
}

/**
 * `tokenkeeper migrate`: applies pending migrations to the store at `spec` (or, with `apply: false`, only reports
 * them). Needs no encryption key: migrations never touch secrets.
 */
export async function migrateStore(
  spec: string,
  options: { apply: boolean },
): Promise<MigrationState & { location: string }> {
  const settings = parsePostgresSpec(spec);
  const pool = createPool(settings);
  try {
    const state = options.apply
      ? await applyMigrations(pool, settings.schema)
      : await readMigrationState(pool, settings.schema).catch((error: unknown) => {
          throw new TokenkeeperError(
            'store',
            `store ${settings.location}: reading migrations failed: ${pgErrorMessage(error)}`,
            { cause: error },
          );
        });
    assertNotNewer(state);
    return { ...state, location: settings.location };
  } catch (error) {
    if (error instanceof TokenkeeperError) throw error;
    throw new TokenkeeperError('store', `store ${settings.location}: ${pgErrorMessage(error)}`, {
      cause: error,
    });
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** Reads which migrations a schema has, without changing anything (the schema may not exist yet). */
export async function readMigrationState(pool: pg.Pool, schema: string): Promise<MigrationState> {
  const exists = await pool.query<{ table: string | null }>('SELECT to_regclass($1) AS table', [
    `${quoteIdent(schema)}.schema_migrations`,
  ]);
  const applied =
    exists.rows[0]?.table === null || exists.rows[0]?.table === undefined
      ? []
      : (
          await pool.query<{ version: number }>(
            `SELECT version FROM ${quoteIdent(schema)}.schema_migrations ORDER BY version`,
          )
        ).rows.map((row) => Number(row.version));
  return stateOf(schema, applied, []);
}

/**
 * Applies every pending migration in one transaction, serialised across processes by an advisory lock so a
 * fleet starting at once migrates exactly once. Refuses a schema migrated by a newer tokenkeeper.
 */
export async function applyMigrations(pool: pg.Pool, schema: string): Promise<MigrationState> {
  const before = await readMigrationState(pool, schema);
  assertNotNewer(before);
  if (before.pending.length === 0) return before;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tokenkeeper-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query(`SET LOCAL search_path TO ${quoteIdent(schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const applied = (
      await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
    ).rows.map((row) => Number(row.version));
    const state = stateOf(schema, applied, []);
    assertNotNewer(state);
    const appliedNow: number[] = [];
    for (const migration of migrations.filter((m) => !applied.includes(m.version))) {
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      appliedNow.push(migration.version);
    }
    await client.query('COMMIT');
    return stateOf(
      schema,
      [...applied, ...appliedNow].sort((a, b) => a - b),
      appliedNow,
    );
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (error instanceof TokenkeeperError) throw error;
    throw new TokenkeeperError(
      'store',
      `migrating PostgreSQL schema "${schema}" failed, nothing was changed: ${pgErrorMessage(error)} (does the user have CREATE rights on the database?)`,
      { cause: error },
    );
  } finally {
    client.release();
  }
}

function stateOf(schema: string, applied: number[], appliedNow: number[]): MigrationState {
  return {
    schema,
    applied,
    pending: migrations
      .filter((migration) => !applied.includes(migration.version))
      .map(({ version, name }) => ({ version, name })),
    appliedNow,
    latest: latestVersion,
  };
}

function assertNotNewer(state: MigrationState): void {
  const newest = state.applied.at(-1);
  if (newest !== undefined && newest > state.latest) {
    throw new TokenkeeperError(
      'store',
      `PostgreSQL schema "${state.schema}" is at migration ${newest}, newer than this tokenkeeper understands (${state.latest}): upgrade tokenkeeper`,
    );
  }
}
