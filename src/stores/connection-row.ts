import type { Connection, ConnectionStatus, RenewalGrant } from '../core/types.ts';
import { decrypt, encrypt, type Keyring } from '../crypto/envelope.ts';

/**
 * The one codec between a Connection and its SQL columns, shared by SQLite and PostgreSQL (same names, same
 * order). Sealed columns are AES-256-GCM envelopes with the connection name and the column bound in, so a value
 * moved to another row or column fails its integrity check.
 */
export const CONNECTION_COLUMNS = [
  'name',
  'provider',
  'grant_type',
  'client_id',
  'client_secret',
  'access_token',
  'refresh_token',
  'expires_at',
  'obtained_at',
  'scope',
  'token_type',
  'provider_user_id',
  'refresh_token_expires_at',
  'refresh_token_issued_at',
  'status',
  'pending_attempt_id',
  'pending_refresh_token',
  'pending_started_at',
  'pending_owner',
  'failure_count',
  'last_error',
  'last_error_at',
  'last_refresh_at',
  'next_attempt_at',
  'version',
  'created_at',
  'updated_at',
] as const;

export type ConnectionColumn = (typeof CONNECTION_COLUMNS)[number];

/** The columns holding secrets, always sealed. */
export const SEALED_COLUMNS = [
  'client_secret',
  'access_token',
  'refresh_token',
  'pending_refresh_token',
] as const satisfies readonly ConnectionColumn[];

/** The columns an update (compare-and-swap on `version`) rewrites: all but the key and the creation time. */
export const UPDATED_COLUMNS = CONNECTION_COLUMNS.filter(
  (column) => column !== 'name' && column !== 'created_at',
);

export type ColumnValue = string | number | null;

/** A connection's column values, secrets sealed with the keyring's current key. */
export function connectionToColumns(c: Connection, keyring: Keyring): Record<ConnectionColumn, ColumnValue> {
  const seal = (value: string | undefined, column: (typeof SEALED_COLUMNS)[number]): ColumnValue =>
    value === undefined ? null : encrypt(keyring, value, `${c.name}:${column}`);
  return {
    name: c.name,
    provider: c.provider,
    grant_type: c.grant ?? 'refresh_token',
    client_id: c.clientId,
    client_secret: seal(c.clientSecret, 'client_secret'),
    access_token: seal(c.tokens.accessToken, 'access_token'),
    refresh_token: seal(c.tokens.refreshToken, 'refresh_token'),
    expires_at: c.tokens.expiresAt ?? null,
    obtained_at: c.tokens.obtainedAt ?? null,
    scope: c.tokens.scope ?? null,
    token_type: c.tokens.tokenType ?? null,
    provider_user_id: c.tokens.providerUserId ?? null,
    refresh_token_expires_at: c.tokens.refreshTokenExpiresAt ?? null,
    refresh_token_issued_at: c.tokens.refreshTokenIssuedAt ?? null,
    status: c.status,
    pending_attempt_id: c.pending?.attemptId ?? null,
    pending_refresh_token: seal(c.pending?.refreshToken, 'pending_refresh_token'),
    pending_started_at: c.pending?.startedAt ?? null,
    pending_owner: c.pending?.owner ?? null,
    failure_count: c.failureCount,
    last_error: c.lastError ?? null,
    last_error_at: c.lastErrorAt ?? null,
    last_refresh_at: c.lastRefreshAt ?? null,
    next_attempt_at: c.nextAttemptAt ?? null,
    version: c.version,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}

/** A connection from its columns as either database returns them (bigint columns may come back as strings). */
export function connectionFromColumns(row: Record<string, unknown>, keyring: Keyring): Connection {
  const name = String(row.name);
  const open = (value: unknown, column: (typeof SEALED_COLUMNS)[number]): string | undefined =>
    typeof value === 'string' ? decrypt(keyring, value, `${name}:${column}`) : undefined;
  const pendingToken = open(row.pending_refresh_token, 'pending_refresh_token');
  return {
    name,
    provider: String(row.provider),
    grant: String(row.grant_type ?? 'refresh_token') as RenewalGrant,
    clientId: String(row.client_id),
    clientSecret: open(row.client_secret, 'client_secret'),
    tokens: {
      accessToken: open(row.access_token, 'access_token'),
      refreshToken: open(row.refresh_token, 'refresh_token'),
      expiresAt: optionalNumber(row.expires_at),
      obtainedAt: optionalNumber(row.obtained_at),
      scope: optionalString(row.scope),
      tokenType: optionalString(row.token_type),
      providerUserId: optionalString(row.provider_user_id),
      refreshTokenExpiresAt: optionalNumber(row.refresh_token_expires_at),
      refreshTokenIssuedAt: optionalNumber(row.refresh_token_issued_at),
    },
    status: String(row.status) as ConnectionStatus,
    pending: row.pending_attempt_id
      ? {
          attemptId: String(row.pending_attempt_id),
          // Client-credentials connections spend no refresh token ('').
          refreshToken: pendingToken ?? '',
          startedAt: Number(row.pending_started_at),
          owner: String(row.pending_owner),
        }
      : undefined,
    failureCount: Number(row.failure_count),
    lastError: optionalString(row.last_error),
    lastErrorAt: optionalNumber(row.last_error_at),
    lastRefreshAt: optionalNumber(row.last_refresh_at),
    nextAttemptAt: optionalNumber(row.next_attempt_at),
    version: Number(row.version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function optionalNumber(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

function optionalString(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}
