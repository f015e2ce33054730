import type { Connection, NewConnection } from '../core/types.ts';

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
  get(name: string): Promise<Connection | undefined>;
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
  close(): Promise<void>;
}
