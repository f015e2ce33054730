import { describeError, exitCodes } from '../core/errors.ts';
import type { Keyring } from '../crypto/envelope.ts';
import { parsePostgresSpec } from '../stores/postgres/settings.ts';
import { fail, ok, type CheckResult } from './check.ts';
import { judgeStoreContents, type StoredCount } from './store-check.ts';

/**
 * Reads a PostgreSQL store in a READ ONLY transaction (never migrates, never writes), each step bounded by
 * `timeoutMs`. Messages name the URL without its password.
 */
export async function checkPostgresStore(
  spec: string,
  keyring: Keyring | undefined,
  keyOrigin: string,
  storedProviders: Set<string>,
  timeoutMs: number,
): Promise<CheckResult> {
  let settings;
  try {
    settings = parsePostgresSpec(spec);
  } catch (error) {
    return fail(
      'store',
      'store',
      describeError(error),
      'fix the store URL (--store, TOKENKEEPER_STORE, store)',
      exitCodes.usage,
    );
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: settings.connectionString,
    application_name: 'tokenkeeper doctor',
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on('error', () => undefined);
  const table = (name: string) => `${settings.schema}.${name}`;
  try {
    await client.connect();
    await client.query('BEGIN READ ONLY');
    const exists = await client.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [
      table('connections'),
    ]);
    if (!exists.rows[0]?.found) {
      return ok(
        'store',
        'store',
        `${settings.location}: reachable; tables not created yet (created when tokenkeeper first opens it, or by \`tokenkeeper migrate\`)`,
      );
    }
    const keyCheck = (
      await client.query<{ value: string }>(`SELECT value FROM ${table('meta')} WHERE key = 'key_check'`)
    ).rows[0]?.value;
    const rows = (
      await client.query<StoredCount>(
        `SELECT provider, status, count(*)::int AS n FROM ${table('connections')} GROUP BY provider, status`,
      )
    ).rows;
    return judgeStoreContents({
      location: settings.location,
      rows,
      keyCheck,
      keyring,
      keyOrigin,
      storedProviders,
    });
  } catch (error) {
    return fail(
      'store',
      'store',
      `cannot read ${settings.location}: ${describeError(error)}`,
      'check that the database is up and the URL, user and password (PGPASSWORD, ~/.pgpass) are right',
      exitCodes.store,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
