import { TokenkeeperError } from '../core/errors.ts';
import { sleep } from '../core/sleep.ts';
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
}

/**
 * Runs `work` holding the store-level lock of one connection: polls until the lock is free (backing off from
 * 5 ms to 100 ms), renews the lease while working, and always releases it.
 */
export async function withStoreLock<T>(
  store: ConnectionStore,
  name: string,
  owner: string,
  options: LockOptions,
  work: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const started = Date.now();
  let pause = 5;
  let handle: LockHandle | undefined;
  while (!(handle = await store.tryLock(name, owner, options.ttlMs))) {
    if (Date.now() - started > options.waitMs) {
      throw new TokenkeeperError(
        'lock_timeout',
        `connection "${name}" stayed locked by another refresher for ${Math.round(options.waitMs / 1000)} s; try again, or check for a stuck process`,
      );
    }
    await sleep(pause + Math.random() * pause);
    pause = Math.min(100, pause * 2);
  }
  const held = handle;
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
  try {
    return await work({ handle: held, signal: lost.signal, waitedMs: Date.now() - started });
  } finally {
    clearInterval(renewal);
    await store.releaseLock(held).catch(() => undefined);
  }
}
