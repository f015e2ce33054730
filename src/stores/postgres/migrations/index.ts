import initial from './001-initial.ts';
import refreshTokenExpiry from './002-refresh-token-expiry.ts';
import webhookOutbox from './003-webhook-outbox.ts';
import refreshTokenExpiryIndex from './004-refresh-token-expiry-index.ts';

export interface Migration {
  /** Applied in ascending order; recorded in schema_migrations. Never edit a released migration: add one. */
  version: number;
  name: string;
  /** Plain SQL with unqualified names; runs with search_path set to the store's schema. */
  sql: string;
}

export const migrations: readonly Migration[] = [
  initial,
  refreshTokenExpiry,
  webhookOutbox,
  refreshTokenExpiryIndex,
];

export const latestVersion = Math.max(...migrations.map((migration) => migration.version));
