import pg from 'pg';
import type { PostgresSettings } from './settings.ts';

export function createPool(settings: PostgresSettings): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.connectionString,
    max: settings.poolSize,
    application_name: 'tokenkeeper',
    connectionTimeoutMillis: 10_000,
  });
  // An idle connection dropped by the server must not crash the process; the next query reports the problem.
  pool.on('error', () => undefined);
  return pool;
}
