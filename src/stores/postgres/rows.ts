import type { Connection, ConnectionStatus, RenewalGrant } from '../../core/types.ts';
import { decrypt, encrypt, type Keyring } from '../../crypto/envelope.ts';

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

export function connectionFromRow(row: ConnectionRow, keyring: Keyring): Connection {
  const name = String(row.name);
  const open = (value: unknown, field: string): string | undefined =>
    typeof value === 'string' ? decrypt(keyring, value, `${name}:${field}`) : undefined;
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
    },
    status: String(row.status) as ConnectionStatus,
    pending:
      row.pending_attempt_id && pendingToken !== undefined
        ? {
            attemptId: String(row.pending_attempt_id),
            refreshToken: pendingToken,
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

function finite(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}

function optionalNumber(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

function optionalString(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}
