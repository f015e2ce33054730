import { FreshReads } from '../core/fresh-reads.ts';
import type { Connection } from '../core/types.ts';
import type { ConnectionStore } from '../stores/store.ts';

/** Beyond this many connections the least recently kept are dropped (a library user may serve very many). */
export const MAX_ENTRIES = 10_000;

/** One read through the cache: the connection, whether it came from memory, and how to keep it. */
export interface CachedRead {
  connection: Connection;
  fromCache: boolean;
  /** Keeps this connection in memory until the store's stamp moves; a no-op for a hit or an uncacheable store. */
  keep(): void;
}

/**
 * Decoded connections kept in memory, each until its store's change stamp moves, so serving an access token
 * needs no row read and no decryption while nothing changed. The stamp is read before the row it vouches for: a
 * write landing between the two moves the stamp past the one kept, so the next read loads the row again. Stores
 * without a stamp, and journal-first stores (whose newest tokens may sit in the rescue journal, which no store
 * stamp covers), are always read. The stamp is read once per event-loop turn for all the reads of that turn, after
 * its I/O (FreshReads): never older than the request that asks.
 */
export class TokenCache {
  private readonly stamps: FreshReads<string | undefined> | undefined;
  private readonly entries = new Map<string, { stamp: string; connection: Connection }>();

  constructor(store: ConnectionStore) {
    const changeStamp = store.journalFirst ? undefined : store.changeStamp?.bind(store);
    this.stamps = changeStamp && new FreshReads((name) => changeStamp(name));
  }

  async read(name: string, load: () => Promise<Connection>): Promise<CachedRead> {
    const stamp = await this.stamps?.next(name);
    const entry = this.entries.get(name);
    if (stamp !== undefined && entry?.stamp === stamp) {
      return { connection: entry.connection, fromCache: true, keep: () => undefined };
    }
    this.entries.delete(name);
    const connection = await load();
    return {
      connection,
      fromCache: false,
      keep: () => {
        if (stamp === undefined) return;
        this.entries.delete(name);
        this.entries.set(name, { stamp, connection: servingPart(connection) });
        if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      },
    };
  }

  /** Forgets every kept connection (the keeper is closing). */
  clear(): void {
    this.entries.clear();
  }
}

/**
 * What serving needs of a connection, without its refresh token and client secret: they would otherwise sit
 * decrypted in memory for as long as the entry is kept, and a refresh reads them from the store anyway.
 */
function servingPart(connection: Connection): Connection {
  const { clientSecret: _secret, tokens, ...rest } = connection;
  const { refreshToken: _refresh, ...served } = tokens;
  return { ...rest, tokens: served };
}
