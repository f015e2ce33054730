import type { Connection, ConnectionStatus, RenewalGrant } from '../core/types.ts';
import { decrypt, type Keyring } from '../crypto/envelope.ts';

/**
 * A connection from its SQL columns (SQLite and PostgreSQL use the same names): sealed fields are decrypted with
 * the connection name and field bound in, so a value moved to another row or column fails its integrity check.
 */
export function connectionFromColumns(row: Record<string, unknown>, keyring: Keyring): Connection {
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
