import type { Connection } from '../../core/types.ts';
import { connectionFromColumns } from '../connection-row.ts';
import { encrypt, type Keyring } from '../../crypto/envelope.ts';

/** The columns a Connection maps to, in the order `connectionValues` produces them. */
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
  'next_refresh_at',
] as const;

export type ConnectionRow = Record<(typeof CONNECTION_COLUMNS)[number], unknown>;

/** Decides `next_refresh_at`, the indexed due time; undefined keeps a connection out of every scheduler's sight. */
export type RefreshPlanner = (connection: Connection) => number | undefined;

type Value = string | number | null;

/**
 * Column values of a connection, secrets sealed as in the embedded store: AES-256-GCM envelopes with the
 * connection name and the field bound in, so a ciphertext cannot be moved to another row or column.
 */
export function connectionValues(c: Connection, keyring: Keyring, plan: RefreshPlanner): Value[] {
  const seal = (value: string | undefined, field: string): Value =>
    value === undefined ? null : encrypt(keyring, value, `${c.name}:${field}`);
  return [
    c.name,
    c.provider,
    c.grant ?? 'refresh_token',
    c.clientId,
    seal(c.clientSecret, 'client_secret'),
    seal(c.tokens.accessToken, 'access_token'),
    seal(c.tokens.refreshToken, 'refresh_token'),
    c.tokens.expiresAt ?? null,
    c.tokens.obtainedAt ?? null,
    c.tokens.scope ?? null,
    c.tokens.tokenType ?? null,
    c.tokens.providerUserId ?? null,
    c.status,
    c.pending?.attemptId ?? null,
    seal(c.pending?.refreshToken, 'pending_refresh_token'),
    c.pending?.startedAt ?? null,
    c.pending?.owner ?? null,
    c.failureCount,
    c.lastError ?? null,
    c.lastErrorAt ?? null,
    c.lastRefreshAt ?? null,
    c.nextAttemptAt ?? null,
    c.version,
    c.createdAt,
    c.updatedAt,
    finite(plan(c)),
  ];
}

/** Rows read back decrypt and parse the same way in every SQL store. */
export function connectionFromRow(row: ConnectionRow, keyring: Keyring): Connection {
  return connectionFromColumns(row, keyring);
}

function finite(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}
