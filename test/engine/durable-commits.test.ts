import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../src/core/sleep.ts';
import type { Connection } from '../../src/core/types.ts';
import type { Keeper } from '../../src/keeper/keeper.ts';
import type { SqliteStore } from '../../src/stores/sqlite-store.ts';
import { commitsDuring } from '../stores/sqlite-wal.ts';
import { FlakyStore, fitbitHarness, rejection, sharedTestJournal, stored } from './setup.ts';

/** The real store, its locked writes included, whose writes of new tokens fail while `down` is set. */
function outageWithLockedWrites(inner: SqliteStore) {
  const outage = { down: false, refused: 0 };
  const refuse = () => {
    outage.refused++;
    throw new Error('simulated store outage: disk I/O error');
  };
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'updateAndUnlock' && outage.down) return async () => refuse();
      if (property === 'update' && outage.down) {
        return async (connection: Connection) => {
          const current = await target.get(connection.name);
          if (current?.tokens.refreshToken !== connection.tokens.refreshToken) refuse();
          return target.update(connection);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, outage };
}

/** A keeper on the real store (its locked writes included) with a shared rescue journal in front of the local one. */
async function keeperWithSharedJournal(harness: Awaited<ReturnType<typeof fitbitHarness>>) {
  const journal = { down: false, readDelayMs: 0 };
  const keeper = await harness.openKeeper({
    wrapStore: (inner) =>
      new Proxy(inner, {
        get(target, property, receiver) {
          if (property === 'openRescueJournal') return () => sharedTestJournal(journal);
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
  });
  return { keeper, journal };
}

function rescueFiles(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'rescue')).filter((file) => file.endsWith('.rescue'));
  } catch {
    return [];
  }
}

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

  it('a save with the unlock that fails (store down) leaves the new tokens in the rescue journal, never only in memory, and frees the lock', async () => {
    const harness = await fitbitHarness({ sim: { graceMs: 0 } });
    let outage: { down: boolean; refused: number } | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => {
        const wrapped = outageWithLockedWrites(inner);
        outage = wrapped.outage;
        return wrapped.store;
      },
      settings: { saveRetryMs: 300 },
    });
    const { name, grant } = await harness.addConnection(keeper);
    (outage as { down: boolean }).down = true;

    const error = await rejection(keeper.refresh(name, { force: true }));

    expect(error.code).toBe('store');
    expect(error.message).toMatch(/rescue journal/);
    expect(outage?.refused).toBeGreaterThan(1);
    const rotated = harness.sim.activeRefreshToken(grant.userId);
    expect(rotated).not.toBe(grant.refreshToken);
    expect(rescueFiles(harness.dir)).toHaveLength(1);
    // The store still holds the spent token, under the write-ahead record; the journal holds the new one.
    const left = await stored(keeper, name);
    expect(left.tokens.refreshToken).toBe(grant.refreshToken);
    expect(left.pending?.refreshToken).toBe(grant.refreshToken);
    const free = await keeper.store.tryLock(name, 'next-holder', 30_000);
    expect(free).toBeDefined();
    await keeper.store.releaseLock(free!);

    (outage as { down: boolean }).down = false;
    const healed = await keeper.refresh(name);

    expect(healed.status).toBe('active');
    expect(harness.sim.stats.invalidGrant).toBe(0);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(
      harness.sim.activeRefreshToken(grant.userId),
    );
    expect(rescueFiles(harness.dir)).toEqual([]);
  });

  it('while another process holds the lock, the refresh waits, then re-reads and refreshes once', async () => {
    const harness = await fitbitHarness();
    const keeper = await harness.openKeeper();
    const { name, grant } = await harness.addConnection(keeper);
    const other = await harness.openKeeper();
    const held = await other.store.tryLock(name, 'other-process', 30_000);
    setTimeout(() => void other.store.releaseLock(held!), 150);

    const summary = await keeper.refresh(name, { force: true });

    expect(summary.status).toBe('active');
    expect(harness.sim.stats.refreshRequests).toBe(1);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(
      harness.sim.activeRefreshToken(grant.userId),
    );
  });

  it('a refresh that finds the rescue journal out of reach after taking the lock with its write-ahead record withdraws the record: nothing was spent', async () => {
    const harness = await fitbitHarness();
    const { keeper, journal } = await keeperWithSharedJournal(harness);
    const { name, grant } = await harness.addConnection(keeper, { withAccessToken: true });
    const before = await stored(keeper, name);
    journal.down = true;

    const error = await rejection(keeper.refresh(name, { force: true }));

    expect(error.message).toMatch(/shared journal storage unreachable/);
    expect(harness.sim.stats.refreshRequests).toBe(0);
    // No attempt with an unknown outcome is left for crash recovery (or every token request) to chase.
    const left = await stored(keeper, name);
    expect(left.status).toBe(before.status);
    expect(left.pending).toBeUndefined();
    expect(left.tokens).toEqual(before.tokens);
    const free = await keeper.store.tryLock(name, 'next-holder', 30_000);
    expect(free).toBeDefined();
    await keeper.store.releaseLock(free!);

    journal.down = false;
    expect((await keeper.refresh(name, { force: true })).status).toBe('active');
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(
      harness.sim.activeRefreshToken(grant.userId),
    );
  });

  it('a refresh whose deadline passes while it checks the rescue journal under the lock withdraws the record written with the lock', async () => {
    const harness = await fitbitHarness();
    const { keeper, journal } = await keeperWithSharedJournal(harness);
    // No usable access token: the token request refreshes first, within its deadline.
    const { name } = await harness.addConnection(keeper);
    const before = await stored(keeper, name);
    journal.readDelayMs = 300;

    const error = await rejection(keeper.accessToken(name, { timeoutMs: 100 }));

    expect(error.code).toBe('timeout');
    expect(harness.sim.stats.refreshRequests).toBe(0);
    const left = await stored(keeper, name);
    expect(left.status).toBe(before.status);
    expect(left.pending).toBeUndefined();
  });

  it('a save with the unlock that finds the version moved (another writer meanwhile) still lands the new tokens and frees the lock', async () => {
    const harness = await fitbitHarness();
    const keeper = await harness.openKeeper();
    const { name, grant } = await harness.addConnection(keeper);
    const other = await harness.openKeeper();
    harness.sim.inject({ kind: 'delay', ms: 300 });

    const refreshing = keeper.refresh(name, { force: true });
    const midway = await writeAheadOf(other, name);
    await other.store.update({ ...midway, lastError: 'written by another process meanwhile' });
    const summary = await refreshing;

    expect(summary.status).toBe('active');
    const saved = await stored(other, name);
    expect(saved.tokens.refreshToken).toBe(harness.sim.activeRefreshToken(grant.userId));
    expect(saved.pending).toBeUndefined();
    expect(rescueFiles(harness.dir)).toEqual([]);
    expect(await other.store.tryLock(name, 'next-holder', 30_000)).toBeDefined();
  });

  it('a holder whose lease was taken over during the request saves its tokens without the unlock and leaves the new holder its lock', async () => {
    const harness = await fitbitHarness();
    const keeper = await harness.openKeeper();
    const { name, grant } = await harness.addConnection(keeper);
    const other = await harness.openKeeper();
    harness.sim.inject({ kind: 'delay', ms: 300 });

    const refreshing = keeper.refresh(name, { force: true });
    await writeAheadOf(other, name);
    // The lease lapses (as if the holder had stalled), and another process takes the lock over.
    const db = new DatabaseSync(other.store.location);
    db.prepare('UPDATE locks SET expires_at = 0 WHERE name = ?').run(name);
    db.close();
    const taker = await other.store.tryLock(name, 'taker', 30_000);
    expect(taker).toBeDefined();
    const summary = await refreshing;

    expect(summary.status).toBe('active');
    expect((await stored(other, name)).tokens.refreshToken).toBe(
      harness.sim.activeRefreshToken(grant.userId),
    );
    expect(await other.store.renewLock(taker!, 30_000)).toBe(true);
    expect(await other.store.tryLock(name, 'third', 30_000)).toBeUndefined();
  });
});

/** Waits until a refresh has written its write-ahead record, and returns the connection as stored then. */
async function writeAheadOf(keeper: Keeper, name: string): Promise<Connection> {
  for (;;) {
    const connection = await stored(keeper, name);
    if (connection.pending) return connection;
    await sleep(5);
  }
}
