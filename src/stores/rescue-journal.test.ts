import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyFromBytes, type Keyring } from '../crypto/envelope.ts';
import { RescueJournal, type RescueEntry } from './rescue-journal.ts';

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
    },
    writtenAt,
  };
}

describe('RescueJournal', () => {
  it('writes one encrypted 0600 file per entry in a private directory and reads it back', () => {
    const journalDir = join(dir, 'rescue');
    const journal = new RescueJournal(journalDir, ringA);
    const path = journal.write(entry('me', 'a1', 1));

    expect(statSync(journalDir).mode & 0o077).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(path, 'utf8');
    expect(bytes).not.toContain('fr_new_a1');
    expect(bytes).not.toContain('fa_new_a1');
    expect(bytes).not.toContain('fr_spent_a1');
    expect(readdirSync(journalDir)).toEqual([path.slice(journalDir.length + 1)]);

    const { entries, unreadable } = journal.read();
    expect(unreadable).toEqual([]);
    expect(entries).toEqual([{ ...entry('me', 'a1', 1), path }]);
  });

  it('filters by connection name exactly (no prefix confusion) and sorts oldest first', () => {
    const journal = new RescueJournal(join(dir, 'rescue'), ringA);
    journal.write(entry('me', 'late', 30));
    journal.write(entry('me', 'early', 10));
    journal.write(entry('me2', 'other', 20));
    expect(journal.read('me').entries.map((e) => e.attemptId)).toEqual(['early', 'late']);
    expect(journal.read('me2').entries.map((e) => e.attemptId)).toEqual(['other']);
    expect(journal.read().entries.map((e) => e.attemptId)).toEqual(['early', 'other', 'late']);
  });

  it('an empty or missing journal reads as nothing', () => {
    expect(new RescueJournal(join(dir, 'absent'), ringA).read()).toEqual({ entries: [], unreadable: [] });
  });

  it('entries it cannot decrypt are reported and kept, never deleted', () => {
    const path = new RescueJournal(join(dir, 'rescue'), ringA).write(entry('me', 'a1', 1));
    const { entries, unreadable } = new RescueJournal(join(dir, 'rescue'), ringB).read();
    expect(entries).toEqual([]);
    expect(unreadable).toEqual([path]);
    expect(statSync(path).isFile()).toBe(true);
    expect(
      new RescueJournal(join(dir, 'rescue'), { current: ringB.current, previous: [ringA.current] }).read()
        .entries,
    ).toHaveLength(1);
  });

  it('an entry renamed to another attempt id fails its integrity check', () => {
    const journal = new RescueJournal(join(dir, 'rescue'), ringA);
    const path = journal.write(entry('me', 'a1', 1));
    renameSync(path, path.replace('a1', 'a2'));
    expect(journal.read().unreadable).toHaveLength(1);
  });

  it('remove deletes an entry and tolerates a second removal', () => {
    const journal = new RescueJournal(join(dir, 'rescue'), ringA);
    const path = journal.write(entry('me', 'a1', 1));
    journal.remove(path);
    journal.remove(path);
    expect(journal.read().entries).toEqual([]);
  });
});
