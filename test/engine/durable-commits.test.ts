import { describe, expect, it } from 'vitest';
import { commitsDuring } from '../stores/sqlite-wal.ts';
import { FlakyStore, fitbitHarness, stored } from './setup.ts';

// Commits are counted from outside, in the store file's write-ahead log (one commit record per transaction).
describe('durable commits per refresh (SQLite)', () => {
  it('a successful refresh commits twice: the lock with the write-ahead record, then the new tokens with the unlock', async () => {
    const harness = await fitbitHarness();
    const keeper = await harness.openKeeper();
    const { name, grant } = await harness.addConnection(keeper);
    const path = keeper.store.location;

    expect(await commitsDuring(path, () => keeper.refresh(name, { force: true }))).toBe(2);
    expect(await commitsDuring(path, () => keeper.refresh(name, { force: true }))).toBe(2);

    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).toBe(harness.sim.activeRefreshToken(grant.userId));
    expect(saved.status).toBe('active');
    expect(saved.pending).toBeUndefined();
    const next = await keeper.store.tryLock(name, 'next-holder', 30_000);
    expect(next).toBeDefined();
  });

  it('a store without locked writes takes the same steps one by one: lock, write-ahead, save, unlock', async () => {
    const harness = await fitbitHarness();
    // The decorator offers only the required methods, as Key Vault does.
    const keeper = await harness.openKeeper({ wrapStore: (inner) => new FlakyStore(inner) });
    const { name, grant } = await harness.addConnection(keeper);

    expect(await commitsDuring(keeper.store.location, () => keeper.refresh(name, { force: true }))).toBe(4);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(
      harness.sim.activeRefreshToken(grant.userId),
    );
  });
});
