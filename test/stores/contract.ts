/**
 * The store contract: one suite every ConnectionStore passes (as keyv's @keyv/test-suite is for its adapters).
 * Each store runs the same cases. Where a store legitimately works otherwise (Key Vault seals nothing itself;
 * a blob lease cannot see that its holder died), the store's run declares that capability and the case asserts
 * the behaviour the store offers instead: no case is skipped.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTokenkeeperError, VersionConflictError } from '../../src/core/errors.ts';
import type { Connection, NewConnection } from '../../src/core/types.ts';
import { envelopeKeyId, type Keyring } from '../../src/crypto/envelope.ts';
import { SEALED_COLUMNS } from '../../src/stores/connection-row.ts';
import { localIdentity } from '../../src/stores/process-identity.ts';
import type { ConnectionStore, LockHandle } from '../../src/stores/store.ts';
import { KEY_A_HEX, KEY_B_HEX, keyring } from '../postgres/keys.ts';
import { rejection } from '../support/rejection.ts';

export const ringA = keyring(KEY_A_HEX);
export const ringB = keyring(KEY_B_HEX);
/** Rotation: the new key current, the old one still accepted. */
export const ringBA = keyring(KEY_B_HEX, [KEY_A_HEX]);

export interface StoreCapabilities {
  /**
   * 'envelope': tokenkeeper seals every secret itself (AES-256-GCM, bound to row and column, with a key id so
   * keys rotate). 'backend': the backend keeps the secrets as they are, protected by its own access control and
   * encryption (Key Vault, in the seed's format); tokenkeeper's keyring plays no part.
   */
  sealing: 'envelope' | 'backend';
  /**
   * Envelope stores: when values sealed with a previous key move to the current one — all of them while the
   * store opens (SQLite), or each row as it is next written (PostgreSQL: no stop-the-world rewrite).
   */
  rotation?: 'on-open' | 'on-write';
  /**
   * A lock whose holder process on this host no longer exists is free at once (SQL stores record host and pid).
   * False: a blob lease knows no holder process, so it stays taken until it lapses.
   */
  deadHolderTakeover: boolean;
  /**
   * The store takes a lock and writes in one transaction (`lockAndUpdate`), and writes and releases in one
   * (`updateAndUnlock`), so a refresh costs two durable commits. False: a Key Vault write and a blob lease are
   * separate services, so the engine calls tryLock, update and releaseLock one by one.
   */
  lockedWrites: boolean;
}

/** Where a stored secret sits: one connection's column (SQL), or its token secret (Key Vault). */
export interface StoredPlace {
  name: string;
  column: 'client_secret' | 'access_token' | 'refresh_token' | 'pending_refresh_token';
}

/** One test's backing storage (a fresh file, schema or vault) and the ways to look into it from outside. */
export interface StoreFixture {
  /** Opens a store on this storage; each call is another process's view of the same data. Closed by `close`. */
  open(ring?: Keyring): Promise<ConnectionStore>;
  /** Everything the storage holds, read from outside, comparable with toEqual (proves a refusal wrote nothing). */
  snapshot(): Promise<unknown>;
  /** Everything the storage holds as text, read from outside (proves what is, or is not, stored in plain). */
  atRest(): Promise<string>;
  /** An outside tool copies the stored value at `from` over the one at `to`. */
  copyStored(from: StoredPlace, to: StoredPlace): Promise<void>;
  /** Envelope stores: a connection's row as stored, read from outside. */
  storedRow?(name: string): Promise<Record<string, unknown> | undefined>;
  /** Asked of tryLock, a TTL after which the lock lapses soon (Azure leases last at least 15 s). */
  readonly shortLockTtlMs: number;
  /**
   * Lets a lock taken with `shortLockTtlMs` lapse: SQL stores wait for their clock; Key Vault breaks the lease,
   * which is what a lapsed lease is to every other client, without waiting 15 s.
   */
  letLockLapse(handle: LockHandle): Promise<void>;
  /** deadHolderTakeover stores: records `holder` as holding `name`'s lock (fence 7, an hour left). */
  plantLockHolder?(name: string, holder: { host: string; pid: number }): Promise<void>;
  close(): Promise<void>;
}

const REFRESH = 'fr_contract-refresh-token-0001';
const ACCESS = 'fa_contract-access-token-0001';
const SECRET = 'cs_contract-client-secret-0001';

export function newConnection(name: string, overrides: Partial<NewConnection> = {}): NewConnection {
  return {
    name,
    provider: 'fitbit',
    grant: 'refresh_token',
    clientId: 'client-1',
    clientSecret: `${SECRET}-${name}`,
    tokens: {
      accessToken: `${ACCESS}-${name}`,
      refreshToken: `${REFRESH}-${name}`,
      expiresAt: 1_800_000_000_000,
      obtainedAt: 1_799_971_200_000,
      scope: 'activity profile',
      tokenType: 'Bearer',
      providerUserId: `USER-${name}`,
      refreshTokenExpiresAt: 1_815_552_000_000,
      refreshTokenIssuedAt: 1_799_971_200_000,
    },
    status: 'active',
    failureCount: 0,
    ...overrides,
  };
}

export { rejection };

/** The key ids of a stored row's sealed values. */
async function sealedKeyIds(fixture: StoreFixture, name: string): Promise<Set<string>> {
  const row = (await fixture.storedRow!(name)) ?? {};
  return new Set(
    SEALED_COLUMNS.map((column) => row[column])
      .filter((value): value is string => typeof value === 'string')
      .map((value) => envelopeKeyId(value) ?? '?'),
  );
}

/** The pid of a process that has just exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

/** Tries until the lock is taken (the test's timeout bounds it); lapsing is the store's clock's business. */
async function takeOnceFree(store: ConnectionStore, name: string, owner: string): Promise<LockHandle> {
  for (;;) {
    const handle = await store.tryLock(name, owner, 60_000);
    if (handle) return handle;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Defines the contract's cases for one store: `makeFixture` gives each case fresh storage; `capabilities` says,
 * before any case runs, what the store does where stores legitimately differ (the case titles say it too).
 */
export function defineStoreContract(
  name: string,
  capabilities: StoreCapabilities,
  makeFixture: () => Promise<StoreFixture>,
): void {
  const envelope = capabilities.sealing === 'envelope';
  describe(`store contract: ${name} (sealing: ${capabilities.sealing}, dead holder takeover: ${capabilities.deadHolderTakeover}, locked writes: ${capabilities.lockedWrites})`, () => {
    let fixture: StoreFixture;
    beforeEach(async () => {
      fixture = await makeFixture();
    });
    afterEach(async () => {
      await fixture?.close();
    });

    describe('connections', () => {
      it('round-trips every field, the write-ahead record included; an unknown name reads as undefined', async () => {
        const store = await fixture.open();
        const pending = {
          attemptId: 'att-1',
          refreshToken: `${REFRESH}-me`,
          startedAt: 123,
          owner: 'host:1:abc',
        };
        const written = newConnection('me', {
          status: 'refreshing',
          pending,
          lastError: 'boom',
          lastErrorAt: 1_799_971_300_000,
          lastRefreshAt: 1_799_971_200_000,
          nextAttemptAt: 1_799_971_400_000,
          failureCount: 2,
        });
        const inserted = await store.insert(written);
        expect(inserted.version).toBe(1);
        expect(inserted).toMatchObject(written);
        expect(await store.get('me')).toEqual(inserted);
        expect(await store.get('nobody')).toBeUndefined();
      });

      it('keeps when the refresh token dies: set, changed and cleared by updates; a connection without one reads none', async () => {
        const store = await fixture.open();
        const {
          refreshTokenExpiresAt: _none,
          refreshTokenIssuedAt: _unknown,
          ...timeless
        } = newConnection('plain').tokens;
        await store.insert(newConnection('plain', { tokens: timeless }));
        const dies = 1_815_000_000_000;
        const inserted = await store.insert(
          newConnection('me', { tokens: { ...newConnection('me').tokens, refreshTokenExpiresAt: dies } }),
        );
        const reader = await fixture.open();
        expect((await reader.get('me'))?.tokens.refreshTokenExpiresAt).toBe(dies);
        const renewed = await store.update({
          ...inserted,
          tokens: {
            ...inserted.tokens,
            refreshTokenExpiresAt: dies + 86_400_000,
            refreshTokenIssuedAt: dies,
          },
        });
        expect((await reader.get('me'))?.tokens).toEqual(renewed.tokens);
        await store.update({
          ...renewed,
          tokens: { ...renewed.tokens, refreshTokenExpiresAt: undefined, refreshTokenIssuedAt: undefined },
        });
        expect((await reader.get('me'))?.tokens.refreshTokenExpiresAt).toBeUndefined();
        expect((await reader.get('me'))?.tokens.refreshTokenIssuedAt).toBeUndefined();
        expect((await reader.get('plain'))?.tokens.refreshTokenExpiresAt).toBeUndefined();
        expect((await reader.get('plain'))?.tokens.refreshTokenIssuedAt).toBeUndefined();
      });

      it('what one store wrote, another opened on the same storage reads, also after closing', async () => {
        const writer = await fixture.open();
        const inserted = await writer.insert(newConnection('me'));
        const reader = await fixture.open();
        expect(await reader.get('me')).toEqual(inserted);
        await writer.close();
        await reader.close();
        expect((await (await fixture.open()).get('me'))?.tokens.refreshToken).toBe(`${REFRESH}-me`);
      });

      it('refuses a second connection of the same name (already_exists) and keeps the first', async () => {
        const store = await fixture.open();
        const first = await store.insert(newConnection('me'));
        const error = await rejection(
          store.insert(newConnection('me', { tokens: { refreshToken: 'fr_intruder' } })),
        );
        expect(error.code).toBe('already_exists');
        expect(await store.get('me')).toEqual(first);
      });

      it('of two stores inserting the same name at once, one wins and the other gets already_exists', async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        const results = await Promise.allSettled([
          a.insert(newConnection('me', { tokens: { refreshToken: 'fr_from-a' } })),
          b.insert(newConnection('me', { tokens: { refreshToken: 'fr_from-b' } })),
        ]);
        const won = results.filter((result) => result.status === 'fulfilled');
        const lost = results.filter((result) => result.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost.map((result) => (result.reason as { code?: string }).code)).toEqual(['already_exists']);
        expect(await b.get('me')).toEqual((won[0] as PromiseFulfilledResult<Connection>).value);
      });

      it('update is a compare-and-swap on version: a stale writer loses and nothing it wrote lands', async () => {
        const store = await fixture.open();
        const first = await store.insert(newConnection('me'));
        const second = await store.update({
          ...first,
          status: 'refreshing',
          pending: { attemptId: 'a1', refreshToken: `${REFRESH}-me`, startedAt: 5, owner: 'me' },
        });
        expect(second.version).toBe(2);
        expect(await store.get('me')).toEqual(second);
        await expect(store.update({ ...first, lastError: 'from a stale writer' })).rejects.toBeInstanceOf(
          VersionConflictError,
        );
        const now = await store.get('me');
        expect(now?.lastError).toBeUndefined();
        expect(now?.status).toBe('refreshing');
        await expect(
          store.update({ ...newConnection('ghost'), version: 1, createdAt: 0, updatedAt: 0 }),
        ).rejects.toBeInstanceOf(VersionConflictError);
        expect(await store.get('ghost')).toBeUndefined();
      });

      it('of two stores writing the same version at once, exactly one wins', async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        const read = await a.insert(newConnection('me'));
        const results = await Promise.allSettled([
          a.update({ ...read, lastError: 'from a' }),
          b.update({ ...read, lastError: 'from b' }),
        ]);
        const won = results.filter((result) => result.status === 'fulfilled');
        const lost = results.filter((result) => result.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost.map((result) => result.reason)).toEqual([expect.any(VersionConflictError)]);
        const stored = await a.get('me');
        expect(stored).toEqual((won[0] as PromiseFulfilledResult<Connection>).value);
        expect(stored?.version).toBe(2);
      });

      it('lists by name; delete says whether there was one, and frees the name', async () => {
        const store = await fixture.open();
        await store.insert(newConnection('zeta'));
        await store.insert(newConnection('alpha'));
        expect((await store.list()).map((c) => c.name)).toEqual(['alpha', 'zeta']);
        expect(await store.delete('alpha')).toBe(true);
        expect(await store.delete('alpha')).toBe(false);
        expect(await store.get('alpha')).toBeUndefined();
        expect((await store.list()).map((c) => c.name)).toEqual(['zeta']);
        const again = await store.insert(newConnection('alpha', { tokens: { refreshToken: 'fr_second' } }));
        expect(again.version).toBe(1);
        expect((await store.get('alpha'))?.tokens.refreshToken).toBe('fr_second');
      });
      it('a change stamp moves with every write of a connection, by this store or another, and holds still otherwise', async () => {
        const store = await fixture.open();
        if (!store.changeStamp) {
          // Key Vault: no cheap version read, so readers keep nothing between reads (the stamp is optional).
          expect(capabilities.sealing).toBe('backend');
          return;
        }
        const stamp = (name: string) => store.changeStamp?.(name) as Promise<string | undefined>;
        const other = await fixture.open();
        const inserted = await store.insert(newConnection('me'));
        const first = await stamp('me');
        expect(first).toEqual(expect.any(String));
        expect(await stamp('me')).toBe(first);
        await store.get('me');
        expect(await stamp('me')).toBe(first);
        const updated = await other.update({ ...inserted, lastError: 'from another process' });
        const afterOther = await stamp('me');
        expect(afterOther).not.toBe(first);
        await store.update({ ...updated, lastError: 'from this one' });
        const afterOwn = await stamp('me');
        expect(afterOwn).not.toBe(afterOther);
        await other.delete('me');
        await other.insert(newConnection('me', { tokens: { refreshToken: 'fr_second-life' } }));
        const seen = new Set([first, afterOther, afterOwn]);
        expect(seen.has(await stamp('me'))).toBe(false);
      });
    });

    describe('locks', () => {
      it('one holder at a time; a release frees it for the next with the next fence, and a late release or renewal by the old holder does nothing', async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        const first = await a.tryLock('me', 'owner-a', 30_000);
        expect(first).toBeDefined();
        expect(await b.tryLock('me', 'owner-b', 30_000)).toBeUndefined();
        expect(await a.tryLock('me', 'owner-a', 30_000)).toBeUndefined();
        const elsewhere = await b.tryLock('another', 'owner-b', 30_000);
        expect(elsewhere).toBeDefined();
        expect(await a.renewLock(first!, 30_000)).toBe(true);
        await a.releaseLock(first!);
        const second = await b.tryLock('me', 'owner-b', 30_000);
        expect(second?.fence).toBe(first!.fence + 1);
        await a.releaseLock(first!);
        expect(await a.renewLock(first!, 30_000)).toBe(false);
        expect(await a.tryLock('me', 'owner-c', 30_000)).toBeUndefined();
        expect(await b.renewLock(second!, 30_000)).toBe(true);
      });

      it('a lapsed lock is taken over with the next fence; the old holder can neither renew it nor release the new holder', async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        const stale = await a.tryLock('me', 'owner-a', fixture.shortLockTtlMs);
        expect(stale).toBeDefined();
        await fixture.letLockLapse(stale!);
        const taken = await takeOnceFree(b, 'me', 'owner-b');
        expect(taken.fence).toBe(stale!.fence + 1);
        expect(await a.renewLock(stale!, 30_000)).toBe(false);
        expect(await b.renewLock(taken, 30_000)).toBe(true);
        await a.releaseLock(stale!);
        expect(await a.tryLock('me', 'owner-c', 30_000)).toBeUndefined();
      });

      it(`a lock whose holder process died ${
        capabilities.deadHolderTakeover
          ? 'is taken over at once on the same machine, not when the holder ran on another'
          : 'stays taken until its lease lapses (a lease knows no holder process)'
      }`, async () => {
        const rescuer = await fixture.open();
        if (capabilities.deadHolderTakeover) {
          await fixture.plantLockHolder!('me', { host: localIdentity(), pid: deadPid() });
          const taken = await rescuer.tryLock('me', 'rescuer', 30_000);
          expect(taken?.fence).toBe(8);
          await rescuer.releaseLock(taken!);
          await fixture.plantLockHolder!('me', { host: 'other-machine', pid: deadPid() });
          expect(await rescuer.tryLock('me', 'rescuer', 30_000)).toBeUndefined();
        } else {
          const crashed = await (await fixture.open()).tryLock('me', 'crashed', fixture.shortLockTtlMs);
          expect(crashed).toBeDefined();
          expect(await rescuer.tryLock('me', 'rescuer', 30_000)).toBeUndefined();
          await fixture.letLockLapse(crashed!);
          expect((await takeOnceFree(rescuer, 'me', 'rescuer')).fence).toBe(crashed!.fence + 1);
        }
      });
    });

    describe('locked writes', () => {
      /** The write-ahead record a refresh writes with its lock. */
      const writeAhead = (connection: Connection): Connection => ({
        ...connection,
        status: 'refreshing',
        pending: { attemptId: 'att-1', refreshToken: `${REFRESH}-me`, startedAt: 5, owner: 'owner-a' },
      });

      it(
        capabilities.lockedWrites
          ? 'lockAndUpdate: the lock with the next fence and the write-ahead record land together, seen by another store'
          : 'a store without locked writes offers neither method: the engine calls tryLock, update and releaseLock',
        async () => {
          const [a, b] = [await fixture.open(), await fixture.open()];
          if (!capabilities.lockedWrites) {
            expect(a.lockAndUpdate).toBeUndefined();
            expect(a.updateAndUnlock).toBeUndefined();
            return;
          }
          const inserted = await a.insert(newConnection('me'));
          const earlier = await a.tryLock('me', 'owner-a', 30_000);
          await a.releaseLock(earlier!);
          const locked = await a.lockAndUpdate!(writeAhead(inserted), 'owner-a', 30_000);
          expect(locked?.handle).toMatchObject({ name: 'me', owner: 'owner-a', fence: earlier!.fence + 1 });
          expect(locked?.connection).toEqual({
            ...writeAhead(inserted),
            version: inserted.version + 1,
            updatedAt: expect.any(Number),
          });
          expect(await b.get('me')).toEqual(locked?.connection);
          expect(await b.tryLock('me', 'owner-b', 30_000)).toBeUndefined();
          expect(await a.renewLock(locked!.handle, 30_000)).toBe(true);
        },
      );

      it(`lockAndUpdate writes nothing while another holds the lock${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate) return expect(capabilities.lockedWrites).toBe(false);
        const inserted = await a.insert(newConnection('me'));
        const held = await b.tryLock('me', 'owner-b', 30_000);
        const before = await fixture.snapshot();
        expect(await a.lockAndUpdate(writeAhead(inserted), 'owner-a', 30_000)).toBeUndefined();
        expect(await fixture.snapshot()).toEqual(before);
        expect(await b.get('me')).toEqual(inserted);
        expect(await b.renewLock(held!, 30_000)).toBe(true);
      });

      it(`lockAndUpdate on a moved version writes nothing and takes no lock${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate) return expect(capabilities.lockedWrites).toBe(false);
        const inserted = await a.insert(newConnection('me'));
        const moved = await b.update({ ...inserted, lastError: 'from another process' });
        const before = await fixture.snapshot();
        expect(await a.lockAndUpdate(writeAhead(inserted), 'owner-a', 30_000)).toBeUndefined();
        expect(await fixture.snapshot()).toEqual(before);
        expect(await b.get('me')).toEqual(moved);
        // The lock was never taken: the first taker gets the first fence.
        expect((await b.tryLock('me', 'owner-b', 30_000))?.fence).toBe(1);
      });

      it(`of two stores racing lockAndUpdate from the same version, exactly one gets the lock and its write${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate || !b.lockAndUpdate) return expect(capabilities.lockedWrites).toBe(false);
        const inserted = await a.insert(newConnection('me'));
        for (let round = 0; round < 5; round++) {
          const read = (await a.get('me'))!;
          const [fromA, fromB] = await Promise.all([
            a.lockAndUpdate({ ...writeAhead(read), lastError: 'from a' }, 'owner-a', 30_000),
            b.lockAndUpdate({ ...writeAhead(read), lastError: 'from b' }, 'owner-b', 30_000),
          ]);
          const winners = [fromA, fromB].filter((locked) => locked !== undefined);
          expect(winners).toHaveLength(1);
          const [winner] = winners;
          expect(await a.get('me')).toEqual(winner?.connection);
          expect(winner?.connection.version).toBe(read.version + 1);
          await (winner === fromA ? a : b).releaseLock(winner!.handle);
        }
        expect((await a.get('me'))?.version).toBe(inserted.version + 5);
      });

      it(`two stores cycling lockAndUpdate and updateAndUnlock as fast as they can: a lock is never granted without its write, and no write is lost${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate || !b.lockAndUpdate) return expect(capabilities.lockedWrites).toBe(false);
        const inserted = await a.insert(newConnection('me'));
        let cycles = 0;
        const cycle = async (store: ConnectionStore, owner: string) => {
          for (let round = 0; round < 150; round++) {
            const read = (await store.get('me'))!;
            const locked = await store.lockAndUpdate!(
              { ...writeAhead(read), lastError: owner },
              owner,
              30_000,
            );
            if (!locked) continue;
            // Only a holder writes here, so what it holds is what is stored.
            expect(await store.get('me')).toEqual(locked.connection);
            const saved = await store.updateAndUnlock!(
              { ...locked.connection, status: 'active', pending: undefined },
              locked.handle,
            );
            expect(saved?.version).toBe(read.version + 2);
            cycles++;
          }
        };
        await Promise.all([cycle(a, 'owner-a'), cycle(b, 'owner-b')]);
        expect(cycles).toBeGreaterThan(0);
        expect((await a.get('me'))?.version).toBe(inserted.version + 2 * cycles);
        expect(await b.tryLock('me', 'owner-c', 30_000)).toBeDefined();
      });

      it(`updateAndUnlock saves and frees the lock for the next with the next fence; the old handle is spent${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate || !a.updateAndUnlock) return expect(capabilities.lockedWrites).toBe(false);
        const inserted = await a.insert(newConnection('me'));
        const locked = (await a.lockAndUpdate(writeAhead(inserted), 'owner-a', 30_000))!;
        const renewed = {
          ...locked.connection,
          status: 'active' as const,
          pending: undefined,
          tokens: { ...locked.connection.tokens, accessToken: 'fa_renewed', refreshToken: 'fr_renewed' },
        };
        const saved = await a.updateAndUnlock(renewed, locked.handle);
        expect(saved).toEqual({
          ...renewed,
          version: locked.connection.version + 1,
          updatedAt: expect.any(Number),
        });
        expect(await b.get('me')).toEqual(saved);
        const next = await b.tryLock('me', 'owner-b', 30_000);
        expect(next?.fence).toBe(locked.handle.fence + 1);
        expect(await a.renewLock(locked.handle, 30_000)).toBe(false);
        const before = await fixture.snapshot();
        expect(await a.updateAndUnlock({ ...saved!, lastError: 'stale' }, locked.handle)).toBeUndefined();
        expect(await fixture.snapshot()).toEqual(before);
        expect(await b.renewLock(next!, 30_000)).toBe(true);
      });

      it(`updateAndUnlock by a holder whose lock lapsed and was taken over writes nothing and frees nothing${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate || !a.updateAndUnlock) return expect(capabilities.lockedWrites).toBe(false);
        const inserted = await a.insert(newConnection('me'));
        const stale = (await a.lockAndUpdate(writeAhead(inserted), 'owner-a', fixture.shortLockTtlMs))!;
        await fixture.letLockLapse(stale.handle);
        const taken = await takeOnceFree(b, 'me', 'owner-b');
        const before = await fixture.snapshot();
        expect(
          await a.updateAndUnlock({ ...stale.connection, lastError: 'late' }, stale.handle),
        ).toBeUndefined();
        expect(await fixture.snapshot()).toEqual(before);
        expect(await b.get('me')).toEqual(stale.connection);
        expect(await b.renewLock(taken, 30_000)).toBe(true);
        expect(taken.fence).toBe(stale.handle.fence + 1);
      });

      it(`lockAndUpdate takes over a lapsed lock with the next fence and its write; the lapsed holder can neither renew, save with the unlock, nor release${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate || !b.lockAndUpdate || !a.updateAndUnlock) {
          return expect(capabilities.lockedWrites).toBe(false);
        }
        const inserted = await a.insert(newConnection('me'));
        const stale = (await a.tryLock('me', 'owner-a', fixture.shortLockTtlMs))!;
        await fixture.letLockLapse(stale);
        let taken: Awaited<ReturnType<typeof b.lockAndUpdate>>;
        // The lapse is on the store's clock: try until it has passed there.
        while (!(taken = await b.lockAndUpdate(writeAhead(inserted), 'owner-b', 30_000))) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        expect(taken.handle.fence).toBe(stale.fence + 1);
        expect(await a.get('me')).toEqual(taken.connection);
        expect(await a.renewLock(stale, 30_000)).toBe(false);
        const before = await fixture.snapshot();
        expect(await a.updateAndUnlock({ ...taken.connection, lastError: 'late' }, stale)).toBeUndefined();
        await a.releaseLock(stale);
        expect(await fixture.snapshot()).toEqual(before);
        expect(await b.renewLock(taken.handle, 30_000)).toBe(true);
      });

      it(`the change stamp moves with lockAndUpdate and with updateAndUnlock${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate || !a.updateAndUnlock || !a.changeStamp || !b.changeStamp) {
          return expect(capabilities.lockedWrites).toBe(false);
        }
        const inserted = await a.insert(newConnection('me'));
        const stamps = async () => [await a.changeStamp!('me'), await b.changeStamp!('me')];
        const first = await stamps();
        const locked = (await a.lockAndUpdate(writeAhead(inserted), 'owner-a', 30_000))!;
        const afterLock = await stamps();
        expect(afterLock[0]).not.toBe(first[0]);
        expect(afterLock[1]).not.toBe(first[1]);
        await a.updateAndUnlock(
          { ...locked.connection, status: 'active', pending: undefined },
          locked.handle,
        );
        const afterSave = await stamps();
        expect(afterSave[0]).not.toBe(afterLock[0]);
        expect(afterSave[1]).not.toBe(afterLock[1]);
      });

      it(`updateAndUnlock on a moved version throws a version conflict, writes nothing and keeps the lock${capabilities.lockedWrites ? '' : ' (no such method)'}`, async () => {
        const [a, b] = [await fixture.open(), await fixture.open()];
        if (!a.lockAndUpdate || !a.updateAndUnlock) return expect(capabilities.lockedWrites).toBe(false);
        const inserted = await a.insert(newConnection('me'));
        const locked = (await a.lockAndUpdate(writeAhead(inserted), 'owner-a', 30_000))!;
        const moved = await b.update({ ...locked.connection, lastError: 'from another process' });
        await expect(
          a.updateAndUnlock({ ...locked.connection, status: 'active', pending: undefined }, locked.handle),
        ).rejects.toBeInstanceOf(VersionConflictError);
        expect(await b.get('me')).toEqual(moved);
        expect(await b.tryLock('me', 'owner-b', 30_000)).toBeUndefined();
        expect(await a.renewLock(locked.handle, 30_000)).toBe(true);
      });
    });

    describe('secrets', () => {
      it(`secrets at rest are ${envelope ? 'sealed by tokenkeeper' : "kept in the backend's own protection, as the seed stored them"}`, async () => {
        const store = await fixture.open();
        const me = await store.insert(
          newConnection('me', {
            status: 'refreshing',
            pending: { attemptId: 'a', refreshToken: `${REFRESH}-me`, startedAt: 1, owner: 'o' },
          }),
        );
        await store.close();
        const stored = await fixture.atRest();
        const secrets = [me.tokens.refreshToken, me.tokens.accessToken, me.clientSecret] as string[];
        expect(stored).toContain('USER-me');
        if (envelope) {
          for (const secret of secrets) expect(stored).not.toContain(secret);
          expect(stored).toMatch(/tk1\./);
        } else {
          // The seed's format: the C# function and other tools read the token secrets as they are.
          for (const secret of secrets.slice(0, 2)) expect(stored).toContain(secret);
          expect(stored).not.toMatch(/tk1\./);
        }
      });

      it(`a stored value moved from outside to another connection${envelope ? ' or column fails its integrity check' : ' is caught as an outside write: stale writers are refused'}`, async () => {
        const store = await fixture.open();
        const alice = await store.insert(newConnection('alice'));
        const bob = await store.insert(newConnection('bob'));
        await store.close();
        await fixture.copyStored(
          { name: 'alice', column: 'refresh_token' },
          { name: 'bob', column: 'refresh_token' },
        );
        const reopened = await fixture.open();
        if (envelope) {
          await fixture.copyStored(
            { name: 'alice', column: 'refresh_token' },
            { name: 'alice', column: 'access_token' },
          );
          const error = await rejection(reopened.get('bob'));
          expect(isTokenkeeperError(error, 'store')).toBe(true);
          expect(error.message).toMatch(/integrity check/);
          expect(error.message).not.toContain(alice.tokens.refreshToken);
          await expect(reopened.get('alice')).rejects.toThrow(/integrity/);
        } else {
          // Key Vault binds a value to its connection by the secret's name: an outside write of it is a write
          // tokenkeeper did not make, so the version moves on and a writer holding the old one is refused.
          const error = await rejection(reopened.update({ ...bob, status: 'failing', failureCount: 1 }));
          expect(error.code).toBe('version_conflict');
          const now = await reopened.get('bob');
          expect(now?.tokens.refreshToken).toBe(alice.tokens.refreshToken);
          expect(now?.version).toBe(bob.version + 1);
        }
      });

      it(`a store written with one key ${envelope ? 'refuses another key (wrong_key) and nothing changes' : 'opens with any key: the keyring plays no part'}`, async () => {
        const store = await fixture.open(ringA);
        const me = await store.insert(newConnection('me'));
        await store.close();
        const before = await fixture.snapshot();
        if (envelope) {
          const error = await rejection(fixture.open(ringB));
          expect(error.code).toBe('wrong_key');
          expect(error.message).toMatch(/encrypted with key/);
          expect(await fixture.snapshot()).toEqual(before);
        } else {
          expect(await (await fixture.open(ringB)).get('me')).toEqual(me);
        }
      });

      it(
        envelope
          ? `key rotation (${capabilities.rotation}): previous keys still read, new writes use the current key, and the old key can go once nothing uses it`
          : 'key rotation has nothing to move: connections read the same under any keyring, old or new',
        async () => {
          const before = await fixture.open(ringA);
          const alice = await before.insert(newConnection('alice'));
          await before.close();

          const rotating = await fixture.open(ringBA);
          expect((await rotating.get('alice'))?.tokens).toEqual(alice.tokens);
          const bob = await rotating.insert(newConnection('bob'));
          await rotating.close();
          if (envelope) {
            expect(await sealedKeyIds(fixture, 'bob')).toEqual(new Set([ringB.current.id]));
            if (capabilities.rotation === 'on-write') {
              // alice is still sealed with the old key, so the old key stays required until she is rewritten.
              expect((await rejection(fixture.open(ringB))).code).toBe('wrong_key');
            } else {
              // Opening with the new key re-sealed everything, so the new key alone opens at once.
              expect(await sealedKeyIds(fixture, 'alice')).toEqual(new Set([ringB.current.id]));
              const early = await fixture.open(ringB);
              expect((await early.get('alice'))?.tokens).toEqual(alice.tokens);
              await early.close();
            }
          }
          const again = await fixture.open(ringBA);
          await again.update((await again.get('alice'))!);
          await again.close();
          await (await fixture.open(ringBA)).close();

          const after = await fixture.open(ringB);
          const read = await after.get('alice');
          expect(read?.tokens).toEqual(alice.tokens);
          expect(read?.clientSecret).toBe(alice.clientSecret);
          expect((await after.get('bob'))?.tokens).toEqual(bob.tokens);
          await after.close();
          if (envelope) {
            expect(await sealedKeyIds(fixture, 'alice')).toEqual(new Set([ringB.current.id]));
            await expect(fixture.open(ringA)).rejects.toThrow(/encrypted with key/);
          } else {
            expect((await (await fixture.open(ringA)).get('alice'))?.tokens).toEqual(alice.tokens);
          }
        },
      );
    });
  });
}
