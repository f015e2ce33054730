/** Shared fixtures for the PostgreSQL tests: one throwaway cluster per test file, one schema per test. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Connection, NewConnection } from '../../src/core/types.ts';
import type { Keyring } from '../../src/crypto/envelope.ts';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';
import { startCluster, type PgCluster } from './cluster.ts';
import { keyring } from './keys.ts';

export { KEY_A_HEX, KEY_B_HEX, keyring } from './keys.ts';

export interface PgFixture {
  cluster: PgCluster;
  /** Database URL of this file's test database. */
  databaseUrl: string;
  /** A store URL on a schema of its own (fresh per call unless `schema` is given). */
  storeUrl(params?: Record<string, string>): string;
  /** Opens a store on `url` (default: a fresh schema); closed after the test. */
  openStore(url?: string, ring?: Keyring): Promise<PostgresStore>;
  /** Runs SQL as the superuser on the test database (inspecting what is really stored). */
  sql<Row extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<Row[]>;
}

/** Starts a cluster before the file's tests and stops it after them, even when they fail. */
export function usePostgres(): PgFixture {
  const opened: PostgresStore[] = [];
  let cluster: PgCluster | undefined;
  let databaseUrl = '';
  let admin: pg.Pool | undefined;

  beforeAll(async () => {
    cluster = await startCluster();
    databaseUrl = await cluster.createDatabase('tokenkeeper_test');
    admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close().catch(() => undefined)));
  });
  afterAll(async () => {
    await admin?.end();
    await cluster?.stop();
  });

  const fixture: PgFixture = {
    get cluster() {
      if (!cluster) throw new Error('cluster not started');
      return cluster;
    },
    get databaseUrl() {
      return databaseUrl;
    },
    storeUrl(params = {}) {
      const url = new URL(databaseUrl);
      url.searchParams.set('schema', `t_${randomBytes(5).toString('hex')}`);
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
      return url.href;
    },
    async openStore(url = fixture.storeUrl(), ring = keyring()) {
      const store = await PostgresStore.open({ spec: url, keyring: ring });
      opened.push(store);
      return store;
    },
    async sql(text, values = []) {
      if (!admin) throw new Error('cluster not started');
      return (await admin.query(text, values)).rows;
    },
  };
  return fixture;
}

export function newConnection(name: string, overrides: Partial<NewConnection> = {}): NewConnection {
  const now = Date.now();
  return {
    name,
    provider: 'fitbit',
    grant: 'refresh_token',
    clientId: 'client-1',
    clientSecret: `secret-of-${name}`,
    tokens: {
      accessToken: `access-${name}-${randomBytes(6).toString('hex')}`,
      refreshToken: `refresh-${name}-${randomBytes(6).toString('hex')}`,
      expiresAt: now + 8 * 3_600_000,
      obtainedAt: now,
      scope: 'activity sleep',
      tokenType: 'Bearer',
      providerUserId: `USER-${name}`,
    },
    status: 'active',
    failureCount: 0,
    ...overrides,
  };
}

export function due(connection: NewConnection): NewConnection {
  return { ...connection, tokens: { ...connection.tokens, expiresAt: Date.now() - 1_000 } };
}

export type { Connection };
