import { describe, expect, it } from 'vitest';
import { withStoreLock } from './lock.ts';
import type { ConnectionStore, LockHandle } from '../stores/store.ts';

/** A lock store whose lock can be taken but whose renewals fail as an unreachable lock service would. */
function unreachableAfterAcquire(): ConnectionStore {
  return {
    location: 'test',
    get: async () => undefined,
    list: async () => [],
    insert: async () => {
      throw new Error('unused');
    },
    update: async () => {
      throw new Error('unused');
    },
    delete: async () => false,
    tryLock: async (name: string, owner: string, ttlMs: number): Promise<LockHandle> => ({
      name,
      owner,
      fence: 1,
      expiresAt: Date.now() + ttlMs,
    }),
    renewLock: async () => {
      throw new Error('ECONNREFUSED');
    },
    releaseLock: async () => undefined,
    close: async () => undefined,
  };
}

describe('withStoreLock', () => {
  it('treats the lock as lost once its lease ran out while every renewal failed', async () => {
    const reason = await withStoreLock(
      unreachableAfterAcquire(),
      'me',
      'owner-1',
      { ttlMs: 90, waitMs: 1_000 },
      (lock) =>
        new Promise<unknown>((resolve) => {
          lock.signal.addEventListener('abort', () => resolve(lock.signal.reason));
          setTimeout(() => resolve('not aborted'), 2_000);
        }),
    );
    expect(String(reason)).toMatch(/lock on "me" was lost/);
  });
});
