import { createHash } from 'node:crypto';
import type { KeeperEvent } from '../core/events.ts';
import { clientSecretWindowMs, expiringSoonWindowMs, type ExpiryPolicy } from '../core/expiry.ts';
import { needsHuman, type Connection } from '../core/types.ts';
import type { RotationRule } from '../providers/types.ts';
import { HOUR_MS } from '../core/duration.ts';

export type ExpiringSoonEvent = Extract<KeeperEvent, { type: 'expiring_soon' }>;

/** Something a connection cannot work without that dies at a known time, and when to start warning about it. */
export interface ExpiryNotice {
  what: ExpiringSoonEvent['what'];
  /** When it dies (epoch ms). */
  expiresAt: number;
  /** When its warning window opens (epoch ms): from then on the connection is expiring soon. */
  warnFrom: number;
}

export interface NoticeFacts {
  /** The connection's provider's expiry policy (its warning window). */
  policy: ExpiryPolicy;
  /** When the client secret this connection uses expires, if it is the provider's configured one and that is known. */
  clientSecretExpiresAt?: number;
  /** How the provider treats this connection's refresh tokens on refresh (see ProviderDefinition.rotation). */
  rotation?: RotationRule;
  /** When a scheduler plans to refresh this connection next (keeper.nextRefreshAt), if it would. */
  nextRefreshAt?: number;
}

/** Rotations that give a new refresh token on every refresh (a new token starts a new lifetime). */
const ROTATES_EVERY_REFRESH: ReadonlySet<RotationRule> = new Set([
  'single-use',
  'reuse-revokes-family',
  'rotate-keep-old',
]);

/**
 * How late a planned refresh may be before nobody is taken to be refreshing the connection (a stopped daemon):
 * from then on a refresh token that the refresh would have renewed is warned about like any other.
 */
export const OVERDUE_REFRESH_SLACK_MS = 15 * 60_000;

/**
 * The expiries of a connection a human should be warned about, each with its window: the refresh token's (the
 * window of core/expiry's expiringSoonWindowMs) and the configured client secret's. None for a connection that
 * needs a human already: its own status says more than a warning would. A refresh token that the next planned
 * refresh renews is not at risk while that refresh is on time (see refreshTokenWarnFrom).
 */
export function expiryNotices(connection: Connection, facts: NoticeFacts): ExpiryNotice[] {
  if (needsHuman(connection.status)) return [];
  const notices: ExpiryNotice[] = [];
  const refreshTokenExpiresAt = connection.tokens.refreshTokenExpiresAt;
  if (refreshTokenExpiresAt !== undefined) {
    notices.push({
      what: 'refresh_token',
      expiresAt: refreshTokenExpiresAt,
      warnFrom: refreshTokenWarnFrom(connection, refreshTokenExpiresAt, facts),
    });
  }
  if (facts.clientSecretExpiresAt !== undefined) {
    const expiresAt = facts.clientSecretExpiresAt;
    notices.push({
      what: 'client_secret',
      expiresAt,
      warnFrom: expiresAt - clientSecretWindowMs(facts.policy),
    });
  }
  return notices;
}

/**
 * When the refresh token's warning opens: its window's start, unless refreshing renews it (its lifetime is
 * renewed by use, or the provider rotates on every refresh — and the last token response did renew it), the
 * connection is healthy and the next planned refresh comes before it dies. Then only a refresh overdue by
 * OVERDUE_REFRESH_SLACK_MS opens it: a 12-hour token refreshed every 8 hours is never "expiring soon" while a
 * daemon runs, and is as soon as none does.
 */
function refreshTokenWarnFrom(connection: Connection, expiresAt: number, facts: NoticeFacts): number {
  const { tokens } = connection;
  const windowOpens = expiresAt - expiringSoonWindowMs(tokens, facts.policy);
  const renewsOnRefresh =
    facts.policy.refreshTokenLifetime?.renewedByUse === true ||
    (facts.rotation !== undefined && ROTATES_EVERY_REFRESH.has(facts.rotation));
  const lastResponseRenewed =
    tokens.refreshTokenIssuedAt !== undefined && tokens.refreshTokenIssuedAt === tokens.obtainedAt;
  const { nextRefreshAt } = facts;
  if (
    !renewsOnRefresh ||
    !lastResponseRenewed ||
    connection.status === 'failing' ||
    nextRefreshAt === undefined ||
    nextRefreshAt + OVERDUE_REFRESH_SLACK_MS >= expiresAt
  ) {
    return windowOpens;
  }
  return Math.max(windowOpens, nextRefreshAt + OVERDUE_REFRESH_SLACK_MS);
}

/** The notices whose window is open at `now`. */
export function openNotices(notices: readonly ExpiryNotice[], now: number): ExpiryNotice[] {
  return notices.filter((notice) => notice.warnFrom <= now);
}

/** When the next of these windows opens after `now`, if one does. */
export function nextWarningAt(notices: readonly ExpiryNotice[], now: number): number | undefined {
  let next: number | undefined;
  for (const { warnFrom } of notices) {
    if (warnFrom > now && (next === undefined || warnFrom < next)) next = warnFrom;
  }
  return next;
}

/**
 * The id of the `expiring_soon` event of one notice: the same for the same connection, thing and expiry, so every
 * process and every restart that notices it raises the same event (delivered once). The expiry counts to the
 * hour: a provider whose refresh_expires_in counts down from a fixed session end (Keycloak) gives a time a second
 * off after each refresh, which must not look like a new expiry.
 */
export function expiringSoonEventId(
  connection: Pick<Connection, 'name' | 'provider'>,
  notice: ExpiryNotice,
): string {
  const hour = Math.round(notice.expiresAt / HOUR_MS);
  const key = JSON.stringify([connection.provider, connection.name, notice.what, hour]);
  return `evt_exp_${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

export function expiringSoonEvent(
  connection: Pick<Connection, 'name' | 'provider'>,
  notice: ExpiryNotice,
): ExpiringSoonEvent {
  return {
    type: 'expiring_soon',
    name: connection.name,
    provider: connection.provider,
    eventId: expiringSoonEventId(connection, notice),
    expiresAt: notice.expiresAt,
    what: notice.what,
  };
}

/**
 * What one process has raised already, per connection, so that a scheduler that checks on every tick raises each
 * `expiring_soon` once while it runs. (Across restarts and processes the deterministic id dedupes: the daemon's
 * webhook outbox, the Functions app's marker blobs.) Ids a connection no longer has are forgotten.
 */
export class AnnouncedNotices {
  private readonly byConnection = new Map<string, Set<string>>();

  /** Records the ids of a connection's open notices; returns those not recorded before. */
  fresh(name: string, ids: readonly string[]): string[] {
    const before = this.byConnection.get(name);
    if (ids.length === 0) this.byConnection.delete(name);
    else this.byConnection.set(name, new Set(ids));
    return ids.filter((id) => !before?.has(id));
  }
}
