import { TokenkeeperError } from '../../core/errors.ts';

/** What a `postgres://…` store spec says, split into what tokenkeeper reads and what goes on to `pg`. */
export interface PostgresSettings {
  /** The URL without tokenkeeper's own parameters (pg and libpq-style ones like sslmode stay). */
  connectionString: string;
  /** PostgreSQL schema holding tokenkeeper's tables. */
  schema: string;
  /** The URL without password, for messages and logs. */
  location: string;
  /** Connections in this process's pool. */
  poolSize: number;
  /** Apply pending migrations when the store opens (else refuse to open until `tokenkeeper migrate`). */
  migrate: boolean;
  /** How long a fleet worker stays alive without a heartbeat before others take over its claims. */
  workerTtlMs: number;
}

const OWN_PARAMETERS = ['schema', 'pool', 'migrate', 'workerTtl'] as const;

/**
 * Parses `postgres://user:pass@host:port/db?schema=tokenkeeper&pool=10&migrate=true&workerTtl=30`.
 * The password may also come from PGPASSWORD or ~/.pgpass, as with every libpq client.
 */
export function parsePostgresSpec(spec: string): PostgresSettings {
  const url = URL.parse(spec);
  if (!url || !/^postgres(ql)?:$/.test(url.protocol)) {
    throw new TokenkeeperError(
      'config',
      'store URL is not a valid postgres:// URL: use postgres://user@host:5432/database (password via PGPASSWORD or ~/.pgpass)',
    );
  }
  const params = url.searchParams;
  const schema = params.get('schema') ?? 'tokenkeeper';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new TokenkeeperError(
      'config',
      `store URL: schema "${schema}" is not a plain lower-case identifier: use letters, digits and _ (e.g. ?schema=tokenkeeper)`,
    );
  }
  const poolSize = wholeNumber(params.get('pool'), 'pool', 10, 1, 1000);
  const workerTtlMs = wholeNumber(params.get('workerTtl'), 'workerTtl', 30, 1, 86_400) * 1000;
  const migrateText = params.get('migrate') ?? 'true';
  if (migrateText !== 'true' && migrateText !== 'false') {
    throw new TokenkeeperError('config', `store URL: migrate must be true or false, got "${migrateText}"`);
  }
  for (const name of OWN_PARAMETERS) params.delete(name);
  const connectionString = url.href;
  url.password = '';
  url.searchParams.delete('password');
  url.searchParams.set('schema', schema);
  return {
    connectionString,
    schema,
    location: url.href,
    poolSize,
    migrate: migrateText === 'true',
    workerTtlMs,
  };
}

function wholeNumber(text: string | null, name: string, fallback: number, min: number, max: number): number {
  if (text === null) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TokenkeeperError(
      'config',
      `store URL: ${name} must be a whole number from ${min} to ${max}, got "${text}"`,
    );
  }
  return value;
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
