import { dirname, join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { TokenkeeperError } from '../core/errors.ts';
import { FreshReads } from '../core/fresh-reads.ts';
import { assertConnectionName } from '../core/names.ts';
import { openSqliteFile, sqliteChangeStamp } from '../files/sqlite-file.ts';
import {
  generateApiKey,
  generateLoginTicket,
  hashSecret,
  parseApiKey,
  parseLoginTicket,
  sameDigest,
  secretDigest,
} from './key-format.ts';

/** Scope entry that grants every connection. */
export const ALL_CONNECTIONS = '*';

export interface ApiKeyRecord {
  id: string;
  label?: string;
  /** Connection names this key may use, or ['*'] for all. */
  scopes: string[];
  createdAt: number;
  lastUsedAt?: number;
  revokedAt?: number;
}

export interface CreatedApiKey extends ApiKeyRecord {
  /** The key itself: shown once, never stored. */
  key: string;
}

const schema = `
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  label TEXT,
  hash TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS login_tickets (
  hash TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
`;

/** How often a key's last-used time is written at most (a write on every request would dominate its cost). */
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/** A dummy hash compared against when the key id is unknown, so unknown and wrong keys take the same time. */
const DUMMY_DIGEST = secretDigest('tokenkeeper-no-such-key');

type Row = {
  id: string;
  label: string | null;
  hash: string;
  scopes: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
};

/** A stored key as verify needs it: the digest its secret must match, and the record handed to the request. */
interface KnownKey {
  digest: Buffer;
  record: Readonly<ApiKeyRecord>;
}

export function apiKeyStorePath(dataDir: string): string {
  return join(dataDir, 'api-keys.db');
}

/**
 * API keys for the daemon's HTTP API, in their own small SQLite file (0600), independent of the connection
 * store. Only SHA-256 hashes of the key secrets are kept.
 */
export class ApiKeyStore {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly now: () => number;

  /** The file's stamp, read once per event-loop turn for all the API requests of that turn. */
  private readonly stamps = new FreshReads(() => this.readStamp());
  /** Every key, by id, as read when the file's stamp was `keysStamp`. */
  private keys = new Map<string, KnownKey>();
  private keysStamp: string | undefined;
  /** Prepared once: the stamp is read for every API request's turn. */
  private stampStatement: StatementSync | undefined;

  private constructor(path: string, db: DatabaseSync, now: () => number) {
    this.path = path;
    this.db = db;
    this.now = now;
  }

  static open(path: string, options: { now?: () => number } = {}): ApiKeyStore {
    const db = openSqliteFile(path, {
      role: 'API key store',
      ownTable: 'api_keys',
      dataDir: dirname(path),
      timeoutMs: 5_000,
      setup: (opened) => {
        opened.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
        opened.exec(schema);
      },
    });
    return new ApiKeyStore(path, db, options.now ?? Date.now);
  }

  create(input: { scopes: string[]; label?: string }): CreatedApiKey {
    const scopes = normalizeScopes(input.scopes);
    const material = generateApiKey();
    const createdAt = this.now();
    this.db
      .prepare('INSERT INTO api_keys (id, label, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(material.id, input.label ?? null, material.hash, JSON.stringify(scopes), createdAt);
    return { id: material.id, label: input.label, scopes, createdAt, key: material.key };
  }

  list(): ApiKeyRecord[] {
    return (this.db.prepare('SELECT * FROM api_keys ORDER BY created_at, id').all() as Row[]).map(fromRow);
  }

  /** Returns false when no key has that id. Revoked keys stay listed (with revokedAt) for the audit trail. */
  revoke(id: string): boolean {
    const result = this.db
      .prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(this.now(), id);
    if (result.changes > 0) return true;
    return this.db.prepare('SELECT 1 FROM api_keys WHERE id = ?').get(id) !== undefined;
  }

  /** The id of the stored key that `key` is (its secret checked, revoked or not), or undefined. */
  idOfKey(key: string): string | undefined {
    const parsed = parseApiKey(key);
    const known = parsed ? this.keysAt(this.readStamp()).get(parsed.id) : undefined;
    return known && sameDigest(secretDigest(parsed?.secret ?? ''), known.digest)
      ? known.record.id
      : undefined;
  }

  /**
   * The active key record for a presented key, or undefined (unknown, wrong secret, malformed or revoked). The
   * keys come from memory, read again whenever the file changed, so a key revoked by another process is refused
   * on the very next request: the file's stamp is read after the request arrived (once for all requests of an
   * event-loop turn).
   */
  async verify(presented: string): Promise<ApiKeyRecord | undefined> {
    const keys = this.keysAt(await this.stamps.next());
    const parsed = parseApiKey(presented);
    const known = parsed ? keys.get(parsed.id) : undefined;
    const matches = sameDigest(secretDigest(parsed?.secret ?? ''), known?.digest ?? DUMMY_DIGEST);
    if (!known || !matches || known.record.revokedAt !== undefined) return undefined;
    this.touch(known.record.id);
    return known.record;
  }

  /**
   * A one-time ticket that logs an operator in to the daemon's pages (`tokenkeeper login`). Whoever can open this
   * store can mint one: the same trust as the data dir that holds the encryption key.
   */
  issueLoginTicket(ttlMs: number): { ticket: string; expiresAt: number } {
    const material = generateLoginTicket();
    const expiresAt = this.now() + ttlMs;
    this.db.prepare('DELETE FROM login_tickets WHERE expires_at <= ?').run(this.now());
    this.db
      .prepare('INSERT INTO login_tickets (hash, expires_at) VALUES (?, ?)')
      .run(material.hash, expiresAt);
    return { ticket: material.ticket, expiresAt };
  }

  /** Spends a login ticket: true once for a ticket that exists and has not expired, false ever after. */
  redeemLoginTicket(presented: string): boolean {
    const secret = parseLoginTicket(presented);
    if (!secret) return false;
    const row = this.db
      .prepare('DELETE FROM login_tickets WHERE hash = ? RETURNING expires_at')
      .get(hashSecret(secret)) as { expires_at: number } | undefined;
    return row !== undefined && row.expires_at > this.now();
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /** Moves with any write to the file, so a revocation by another process (`api-key revoke`) is seen at once. */
  private readStamp(): string {
    return sqliteChangeStamp((sql) => (this.stampStatement ??= this.db.prepare(sql)));
  }

  /** The keys as stored when the file's stamp was `stamp` (read before this): the ones in memory if it is unchanged. */
  private keysAt(stamp: string): ReadonlyMap<string, KnownKey> {
    if (stamp !== this.keysStamp) {
      const rows = this.db.prepare('SELECT * FROM api_keys').all() as Row[];
      this.keys = new Map(
        rows.map((row) => [
          row.id,
          { digest: Buffer.from(row.hash, 'hex'), record: Object.freeze(fromRow(row)) },
        ]),
      );
      this.keysStamp = stamp;
    }
    return this.keys;
  }

  private touch(id: string): void {
    const now = this.now();
    if (now - (this.lastUsedWritten.get(id) ?? 0) < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWritten.set(id, now);
    try {
      this.db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(now, id);
    } catch {
      // Last-used is informational; a busy database must not fail the request.
    }
  }
}

export function keyAllows(record: ApiKeyRecord, connection: string): boolean {
  return record.scopes.includes(ALL_CONNECTIONS) || record.scopes.includes(connection);
}

function normalizeScopes(scopes: string[]): string[] {
  const unique = [...new Set(scopes.map((scope) => scope.trim()).filter(Boolean))];
  if (unique.length === 0) {
    throw new TokenkeeperError(
      'usage',
      'an API key needs a scope: pass --scope with connection names, or --scope "*" for all connections',
    );
  }
  for (const scope of unique) if (scope !== ALL_CONNECTIONS) assertConnectionName(scope);
  return unique.includes(ALL_CONNECTIONS) ? [ALL_CONNECTIONS] : unique.sort();
}

function fromRow(row: Row): ApiKeyRecord {
  return {
    id: row.id,
    label: row.label ?? undefined,
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
  };
}
