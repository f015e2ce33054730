import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyFromBytes, type Keyring } from '../crypto/envelope.ts';
import {
  FileRescueJournal,
  SharedRescueJournal,
  type RescueEntry,
  type RescueJournal,
} from './rescue-journal.ts';

const ringA: Keyring = { current: keyFromBytes(Buffer.alloc(32, 1)), previous: [] };
const ringB: Keyring = { current: keyFromBytes(Buffer.alloc(32, 2)), previous: [] };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-rescue-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function entry(name: string, attemptId: string, writtenAt: number): RescueEntry {
  return {
    name,
    attemptId,
    spentRefreshToken: `fr_spent_${attemptId}_0000`,
    tokens: {
      accessToken: `fa_new_${attemptId}_0000`,
      refreshToken: `fr_new_${attemptId}_0000`,
      expiresAt: 5,
      refreshTokenExpiresAt: 7,
    },
    writtenAt,
  };
}

describe('FileRescueJournal', () => {
  it('writes one encrypted 0600 file per entry in a private directory and reads it back', async () => {
    const journalDir = join(dir, 'rescue');
    const journal = new FileRescueJournal(journalDir, ringA);
    const path = await journal.write(entry('me', 'a1', 1));

    expect(statSync(journalDir).mode & 0o077).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(path, 'utf8');
    expect(bytes).not.toContain('fr_new_a1');
    expect(bytes).not.toContain('fa_new_a1');
    expect(bytes).not.toContain('fr_spent_a1');
    expect(readdirSync(journalDir)).toEqual([path.slice(journalDir.length + 1)]);

    const { entries, unreadable } = await journal.read();
    expect(unreadable).toEqual([]);
    expect(entries).toEqual([{ ...entry('me', 'a1', 1), path }]);
  });

  it('filters by connection name exactly (no prefix confusion) and sorts oldest first', async () => {
    const journal = new FileRescueJournal(join(dir, 'rescue'), ringA);
    await journal.write(entry('me', 'late', 30));
    await journal.write(entry('me', 'early', 10));
    await journal.write(entry('me2', 'other', 20));
    expect((await journal.read('me')).entries.map((e) => e.attemptId)).toEqual(['early', 'late']);
    expect((await journal.read('me2')).entries.map((e) => e.attemptId)).toEqual(['other']);
    expect((await journal.read()).entries.map((e) => e.attemptId)).toEqual(['early', 'other', 'late']);
  });

  it('an empty or missing journal reads as nothing', async () => {
    expect(await new FileRescueJournal(join(dir, 'absent'), ringA).read()).toEqual({
      entries: [],
      unreadable: [],
    });
  });

  it('entries it cannot decrypt are reported and kept, never deleted', async () => {
    const path = await new FileRescueJournal(join(dir, 'rescue'), ringA).write(entry('me', 'a1', 1));
    const { entries, unreadable } = await new FileRescueJournal(join(dir, 'rescue'), ringB).read();
    expect(entries).toEqual([]);
    expect(unreadable).toEqual([path]);
    expect(statSync(path).isFile()).toBe(true);
    expect(
      (
        await new FileRescueJournal(join(dir, 'rescue'), {
          current: ringB.current,
          previous: [ringA.current],
        }).read()
      ).entries,
    ).toHaveLength(1);
  });

  it('an entry renamed to another attempt id fails its integrity check', async () => {
    const journal = new FileRescueJournal(join(dir, 'rescue'), ringA);
    const path = await journal.write(entry('me', 'a1', 1));
    renameSync(path, path.replace('a1', 'a2'));
    expect((await journal.read()).unreadable).toHaveLength(1);
  });

  it('remove deletes an entry and tolerates a second removal', async () => {
    const journal = new FileRescueJournal(join(dir, 'rescue'), ringA);
    const path = await journal.write(entry('me', 'a1', 1));
    await journal.remove(path);
    await journal.remove(path);
    expect((await journal.read()).entries).toEqual([]);
  });
});

/** An in-memory stand-in for a store's shared journal, which can be told to refuse writes. */
function memoryJournal(): RescueJournal & { refuse: boolean; items: Map<string, RescueEntry> } {
  const items = new Map<string, RescueEntry>();
  return {
    location: 'memory journal',
    refuse: false,
    items,
    async write(item) {
      if (this.refuse) throw new Error('shared journal down');
      const path = `mem/${item.name}~${item.attemptId}`;
      items.set(path, item);
      return path;
    },
    async read(name) {
      const entries = [...items]
        .filter(([, item]) => name === undefined || item.name === name)
        .map(([path, item]) => ({ ...item, path }));
      return { entries, unreadable: [] };
    },
    async remove(path) {
      items.delete(path);
    },
  };
}

describe('SharedRescueJournal', () => {
  it('writes to the shared journal, reads both (legacy local entries too) oldest first, removes from the right one', async () => {
    const shared = memoryJournal();
    const local = new FileRescueJournal(join(dir, 'rescue'), ringA);
    const legacyPath = await local.write(entry('me', 'old', 5));
    const journal = new SharedRescueJournal(shared, local);
    expect(journal.location).toContain('memory journal');
    expect(journal.location).toContain(join(dir, 'rescue'));

    const sharedPath = await journal.write(entry('me', 'new', 10));
    expect([...shared.items.keys()]).toEqual([sharedPath]);
    expect((await journal.read('me')).entries.map((e) => e.path)).toEqual([legacyPath, sharedPath]);
    expect((await journal.read('other')).entries).toEqual([]);

    await journal.remove(legacyPath);
    expect((await local.read()).entries).toEqual([]);
    expect(shared.items.size).toBe(1);
    await journal.remove(sharedPath);
    expect(shared.items.size).toBe(0);
  });

  it('falls back to the local journal when the shared one refuses a write', async () => {
    const shared = memoryJournal();
    shared.refuse = true;
    const local = new FileRescueJournal(join(dir, 'rescue'), ringA);
    const journal = new SharedRescueJournal(shared, local);
    const path = await journal.write(entry('me', 'a1', 1));
    expect(path.startsWith(join(dir, 'rescue'))).toBe(true);
    expect((await journal.read('me')).entries.map((e) => e.attemptId)).toEqual(['a1']);
  });
});
