import type { ConnectionSummary } from '../core/types.ts';

const iso = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());

/** The machine-readable view of a connection: no secrets, times as ISO 8601. */
export function summaryJson(summary: ConnectionSummary) {
  return {
    name: summary.name,
    provider: summary.provider,
    account: summary.account ?? null,
    status: summary.status,
    scope: summary.scope ?? null,
    expiresAt: iso(summary.expiresAt),
    refreshTokenExpiresAt: iso(summary.refreshTokenExpiresAt),
    expiringSoon: summary.expiringSoon,
    expiring: summary.expiring ? { what: summary.expiring.what, at: iso(summary.expiring.at) } : null,
    successor: summary.successor ?? null,
    lastRefreshAt: iso(summary.lastRefreshAt),
    nextRefreshAt: iso(summary.nextRefreshAt),
    lastError: summary.lastError ?? null,
    lastErrorAt: iso(summary.lastErrorAt),
    failureCount: summary.failureCount,
    refreshInProgress: summary.refreshInProgress,
    createdAt: iso(summary.createdAt),
  };
}
