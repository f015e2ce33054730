import type { KeeperEvent } from '../core/events.ts';
import type { ConnectionSummary } from '../keeper/keeper.ts';
import { needsHuman } from '../core/types.ts';

export type HistoryKind =
  'refreshed' | 'failed' | 'needs_reauth' | 'provider_retired' | 'reconnected' | 'expiring_soon';

export interface HistoryEntry {
  at: number;
  kind: HistoryKind;
  /** For refreshed / reconnected: when the new access token expires; for expiring_soon: when the refresh token dies. */
  expiresAt?: number;
  error?: string;
}

/**
 * Recent refresh outcomes per connection, kept in the daemon's memory (a bounded ring per connection) for the
 * status page's chart. Lost on restart by design: the store keeps what matters.
 */
export class RefreshHistory {
  private readonly perConnection = new Map<string, HistoryEntry[]>();
  private readonly capacity: number;
  private readonly maxConnections: number;
  private readonly now: () => number;

  constructor(options: { capacity?: number; maxConnections?: number; now?: () => number } = {}) {
    this.capacity = options.capacity ?? 60;
    this.maxConnections = options.maxConnections ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  /** Seeds one point per connection from what the store knows (the last refresh), so a fresh daemon shows something. */
  seed(connections: ConnectionSummary[]): void {
    for (const connection of connections) {
      if (this.perConnection.has(connection.name) || connection.lastRefreshAt === undefined) continue;
      this.add(connection.name, {
        at: connection.lastRefreshAt,
        kind: 'refreshed',
        expiresAt: connection.expiresAt,
      });
    }
  }

  /** A KeeperEventListener. */
  readonly handle = (event: KeeperEvent): void => {
    const at = this.now();
    if (event.type === 'refreshed')
      this.add(event.name, { at, kind: 'refreshed', expiresAt: event.expiresAt });
    else if (event.type === 'refresh_failed')
      this.add(event.name, { at, kind: 'failed', error: event.error });
    else if (event.type === 'status_changed' && needsHuman(event.to)) {
      this.add(event.name, { at, kind: event.to, error: event.error });
    } else if (event.type === 'expiring_soon' && event.what === 'refresh_token') {
      // One warning per expiry: a scheduler that notices it again must not push the refreshes out of the strip.
      const warned = this.entries(event.name).some(
        (entry) => entry.kind === 'expiring_soon' && entry.expiresAt === event.expiresAt,
      );
      if (!warned) this.add(event.name, { at, kind: 'expiring_soon', expiresAt: event.expiresAt });
    }
  };

  add(name: string, entry: HistoryEntry): void {
    const entries = this.perConnection.get(name) ?? [];
    entries.push(entry);
    if (entries.length > this.capacity) entries.splice(0, entries.length - this.capacity);
    // Re-inserted so the map stays in least-recently-updated order; the oldest connections go first when full.
    this.perConnection.delete(name);
    this.perConnection.set(name, entries);
    if (this.perConnection.size > this.maxConnections) {
      const oldest = this.perConnection.keys().next().value;
      if (oldest !== undefined) this.perConnection.delete(oldest);
    }
  }

  entries(name: string): readonly HistoryEntry[] {
    return this.perConnection.get(name) ?? [];
  }
}
