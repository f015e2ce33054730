import { TokenkeeperError } from '../core/errors.ts';
import { sleep } from '../core/sleep.ts';
import type { Connection } from '../core/types.ts';
import type { ConnectionStore, LockHandle } from '../stores/store.ts';

export interface LockOptions {
  /** Lease length; renewed every third of it while the work runs. */
  ttlMs: number;
  /** How long to wait for another holder before giving up. */
  waitMs: number;
}

export interface HeldLock {
  handle: LockHandle;
  /** Aborted when a renewal finds the lease was lost. */
  signal: AbortSignal;
  /** How long the caller waited to get the lock (ms). */
  waitedMs: number;
  /**
   * The connection as written together with the lock, when the caller asked for a write with it and the store
   * took both in one transaction; undefined when the lock was taken alone (nothing was written).
   */
  written?: Connection;
  /**
   * `store.update(connection)`, releasing the lock in the same transaction where the store can; otherwise (or when
   * this holder's lease was taken over meanwhile) the write alone, and the lock is released when the work ends.
   */
  updateAndRelease(connection: Connection): Promise<Connection>;
}

/**
 * Runs `work` holding the store-level lock of one connection: polls until the lock is free (backing off from
 * 5 ms to 100 ms), renews the lease while working, and always releases it. With `writeWithLock`, a store that can
 * first tries to take the lock and write that connection (compare-and-swap) in one transaction; when it refuses
 * (lock held, version moved) or cannot, the lock is taken alone, as without it.
 */
export async function withStoreLock<T>(
  store: ConnectionStore,
  name: string,
  owner: string,
  options: LockOptions,
  work: (lock: HeldLock) => Promise<T>,
  writeWithLock?: Connection,
): Promise<T> {
  const started = Date.now();
  const locked = writeWithLock && (await store.lockAndUpdate?.(writeWithLock, owner, options.ttlMs));
  const held = locked?.handle ?? (await takeLock(store, name, owner, options, started));
  const lost = new AbortController();
  // The lease is timed on this machine's monotonic clock: the store's clock (e.g. PostgreSQL's) may differ.
  let leaseEnds = performance.now() + options.ttlMs;
  const renewal = setInterval(() => {
    const lose = () => lost.abort(new TokenkeeperError('lock_timeout', `lock on "${name}" was lost`));
    const asked = performance.now();
    store.renewLock(held, options.ttlMs).then(
      (ok) => {
        if (ok) leaseEnds = asked + options.ttlMs;
        else lose();
      },
      // A renewal that keeps failing (lock store unreachable) loses the lock once the lease has run out.
      () => {
        if (performance.now() >= leaseEnds) lose();
      },
    );
  }, options.ttlMs / 3);
  renewal.unref();
  let released = false;
  const updateAndRelease = async (connection: Connection): Promise<Connection> => {
    const saved = await store.updateAndUnlock?.(connection, held);
    if (!saved) return store.update(connection);
    released = true;
    clearInterval(renewal);
    return saved;
  };
  try {
    return await work({
      handle: held,
      signal: lost.signal,
      waitedMs: Date.now() - started,
      ...(locked && { written: locked.connection }),
      updateAndRelease,
    });
  } finally {
    clearInterval(renewal);
    if (!released) await store.releaseLock(held).catch(() => undefined);
  }
}

async function takeLock(
  store: ConnectionStore,
  name: string,
  owner: string,
  options: LockOptions,
  started: number,
): Promise<LockHandle> {
  let pause = 5;
  for (;;) {
    const handle = await store.tryLock(name, owner, options.ttlMs);
    if (handle) return handle;
    if (Date.now() - started > options.waitMs) {
      throw new TokenkeeperError(
        'lock_timeout',
        `connection "${name}" stayed locked by another refresher for ${Math.round(options.waitMs / 1000)} s; try again, or check for a stuck process`,
      );
    }
    await sleep(pause + Math.random() * pause);
    pause = Math.min(100, pause * 2);
  }
}
