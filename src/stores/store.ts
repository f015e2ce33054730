import type { DeliveryOutbox } from '../core/outbox.ts';
import type { Connection, NewConnection } from '../core/types.ts';
import type { Keyring } from '../crypto/envelope.ts';
import type { RescueJournal } from './rescue-journal.ts';

/** A held cross-process lock on one connection. `fence` grows with every acquisition of that connection's lock. */
export interface LockHandle {
  name: string;
  owner: string;
  fence: number;
  expiresAt: number;
}

/**
 * Where connections live. Every implementation offers compare-and-swap on `version` (or pairs a store without it
 * with a lock) and a lock with an owner id that survives only as long as it is renewed, so one refresher at a time
 * works on a connection across processes and machines.
 */
export interface ConnectionStore {
  /** Human-readable location, free of secrets (e.g. the SQLite file path). */
  readonly location: string;
  /**
   * True for stores whose write of a token set takes several slow round trips (Key Vault): the engine then
   * writes new tokens to the rescue journal before the store, so a crash mid-write cannot lose them.
   */
  readonly journalFirst?: boolean;
  /**
   * Optional, for stores with durable storage shared by all their processes (Key Vault: blob storage): the
   * rescue journal every process of the store sees. Without it (or when it returns undefined) the keeper keeps
   * its journal in the data dir, which suits stores used from one machine's disk.
   */
  openRescueJournal?(keyring: Keyring): RescueJournal | undefined;
  /**
   * Optional, for stores whose processes keep no durable webhook outbox of their own (Key Vault in the Functions
   * app): markers every process of the store sees, so a notice raised again on another run or instance is not
   * sent again.
   */
  openNoticeMarkers?(): NoticeMarkers | undefined;
  get(name: string): Promise<Connection | undefined>;
  /**
   * Optional: a cheap stamp (nothing decrypted, no secret read) that differs whenever connection `name` may have
   * changed since the stamp was last read, by this process or any other, so a reader can keep what it decoded
   * until the stamp moves. It may move for other reasons too (a store-wide stamp is allowed); undefined when the
   * store can tell the connection does not exist. Read it before the row it vouches for.
   */
  changeStamp?(name: string): Promise<string | undefined>;
  list(): Promise<Connection[]>;
  /** Fails with `already_exists` when a connection of that name exists. */
  insert(connection: NewConnection): Promise<Connection>;
  /** Compare-and-swap: succeeds only if the stored version equals `connection.version`; returns the new version. */
  update(connection: Connection): Promise<Connection>;
  delete(name: string): Promise<boolean>;
  /** One non-blocking attempt to take the lock; undefined when someone else holds it. */
  tryLock(name: string, owner: string, ttlMs: number): Promise<LockHandle | undefined>;
  /** Extends a held lock; false when it was lost (expired and taken over). */
  renewLock(handle: LockHandle, ttlMs: number): Promise<boolean>;
  releaseLock(handle: LockHandle): Promise<void>;
  /**
   * Optional, for stores with transactions (SQLite, PostgreSQL): `tryLock` and `update(connection)` in one durable
   * transaction, so a refresh takes its lock and writes its write-ahead record with one commit. Undefined, and
   * nothing written, when the lock is held by someone else or the stored version is no longer
   * `connection.version` (the caller then locks and re-reads on its own); a store may leave taking over the lock
   * of a dead holder to `tryLock`.
   */
  lockAndUpdate?(connection: Connection, owner: string, ttlMs: number): Promise<LockedUpdate | undefined>;
  /**
   * Optional, with `lockAndUpdate`: `update(connection)` and `releaseLock(handle)` in one durable transaction.
   * Undefined, and nothing written, when `handle` no longer holds the lock (it was taken over; a takeover that commits
   * while the save runs may find the connection written, as a plain `update` would have written it, and keeps its
   * lock). Throws VersionConflictError, with nothing written and the lock still held, when the version moved.
   */
  updateAndUnlock?(connection: Connection, handle: LockHandle): Promise<Connection | undefined>;
  close(): Promise<void>;
  /**
   * Optional, for stores shared by a fleet of daemons (PostgreSQL): join as a worker that claims due
   * connections, so the daemon reads only what it will refresh instead of listing every connection.
   */
  joinFleet?(owner: string): Promise<FleetMember>;
  /** Optional: how the store computes the due time it indexes; the daemon installs its own expiry policy. */
  setRefreshPlanner?(plan: (connection: Connection) => number | undefined): void;
  /**
   * Optional, for stores that keep refresh-token expiry in a column (SQLite, PostgreSQL): the connections whose
   * refresh token dies at or before `at` (epoch ms), and every connection of `providers` (those whose client secret
   * expires soon), so a fleet's warning sweep reads those only. Without it the sweep lists every connection.
   */
  expiringBefore?(at: number, providers?: readonly string[]): Promise<Connection[]>;
  /** Optional: how many connections and the earliest due time, without reading secrets (cheap on big stores). */
  overview?(): Promise<{ connections: number; nextRefreshAt?: number }>;
  /**
   * Optional: the store's webhook outbox, where pending deliveries survive restarts and are shared by every
   * process of the store. Without it the daemon keeps them in memory.
   */
  openOutbox?(): DeliveryOutbox;
}

/** What `lockAndUpdate` did: the lock it holds, and the connection as written. */
export interface LockedUpdate {
  handle: LockHandle;
  connection: Connection;
}

/** Which notices (by their deterministic event id) were sent, shared by every process of a store. */
export interface NoticeMarkers {
  /** Where the markers are, for messages. */
  readonly location: string;
  has(id: string): Promise<boolean>;
  /** Creates the marker if it is absent (create-if-absent); false when it was there already. */
  mark(id: string): Promise<boolean>;
}

/** At most `requests` token requests per `windowMs` for each connection (one user at one app) of `provider`. */
export interface ProviderRateLimit {
  provider: string;
  requests: number;
  windowMs: number;
}

export interface ClaimRequest {
  /** Keeper-clock time: connections due at or before it are claimed. */
  now: number;
  limit: number;
  rateLimits: readonly ProviderRateLimit[];
  /** Token requests one claimed refresh may make, charged to the rate limit up front. */
  requestsPerClaim: number;
}

/** A connection handed to one fleet worker; `fence` grows with every claim of that connection. */
export interface Claim {
  name: string;
  fence: number;
}

/** One worker's membership of a fleet; it stays alive while the process heartbeats, and its claims with it. */
export interface FleetMember {
  readonly owner: string;
  /** How often the worker should look for work left by dead members, at least (ms). */
  readonly recheckMs: number;
  /** Claims due connections no live worker holds; connections over their rate limit are postponed instead. */
  claimDue(request: ClaimRequest): Promise<{ claimed: Claim[]; postponed: number }>;
  /** Hands a claim back; `notBefore` pushes the connection's next due time to at least that moment. */
  release(claim: Claim, options?: { notBefore?: number }): Promise<void>;
  /** The earliest due time among unclaimed connections (keeper clock), if any. */
  nextDueAt(): Promise<number | undefined>;
  /** Releases every claim still held and leaves the fleet. */
  leave(): Promise<void>;
}
