import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decrypt, encrypt, type Keyring } from '../crypto/envelope.ts';
import type { TokenSet } from '../core/types.ts';
import { fsyncDir, writeFileDurably } from '../files/durable-write.ts';
import { fileSystemError } from '../files/fs-errors.ts';
import { checkOwnSubdirectory, ensureDataDir, ensureOwnSubdirectory } from '../files/owned-path.ts';

/** A token set that a refresh obtained but could not yet save to the store. */
export interface RescueEntry {
  name: string;
  attemptId: string;
  /** The refresh token that was spent to obtain `tokens`. */
  spentRefreshToken: string;
  tokens: TokenSet;
  writtenAt: number;
}

/**
 * The local rescue journal of design step 5: when the store cannot take a freshly rotated token set, it is
 * written here first — one encrypted 0600 file per entry, fsynced, renamed into place — and replayed into the
 * store later. One file per entry means concurrent processes never rewrite each other's entries.
 */
export class RescueJournal {
  readonly dir: string;
  private readonly keyring: Keyring;

  /**
   * `dir` lives in the data dir. Both are checked at once (nothing is created until an entry is written), so a
   * journal that could never be written is refused at start, not discovered during a store outage.
   */
  constructor(dir: string, keyring: Keyring) {
    this.dir = dir;
    this.keyring = keyring;
    ensureDataDir(dirname(dir), { create: false });
    checkOwnSubdirectory(dir, 'rescue journal');
  }

  write(entry: RescueEntry): string {
    ensureDataDir(dirname(this.dir));
    ensureOwnSubdirectory(this.dir, 'rescue journal');
    const path = join(this.dir, fileName(entry.name, entry.attemptId));
    try {
      writeFileDurably(path, encrypt(this.keyring, JSON.stringify(entry), `rescue:${entry.attemptId}`));
    } catch (error) {
      throw fileSystemError(error, 'rescue journal', path, 'write');
    }
    return path;
  }

  /** Entries for one connection (or all), oldest first. Unreadable files are reported, never deleted. */
  read(name?: string): { entries: Array<RescueEntry & { path: string }>; unreadable: string[] } {
    let files: string[];
    try {
      files = readdirSync(this.dir).filter((file) => file.endsWith('.rescue'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { entries: [], unreadable: [] };
      throw fileSystemError(error, 'rescue journal', this.dir, 'read');
    }
    const prefix = name === undefined ? '' : `${encodeURIComponent(name)}~`;
    const entries: Array<RescueEntry & { path: string }> = [];
    const unreadable: string[] = [];
    for (const file of files.filter((candidate) => candidate.startsWith(prefix))) {
      const path = join(this.dir, file);
      const attemptId = file.slice(file.indexOf('~') + 1, -'.rescue'.length);
      try {
        const entry = JSON.parse(
          decrypt(this.keyring, readFileSync(path, 'utf8'), `rescue:${attemptId}`),
        ) as RescueEntry;
        entries.push({ ...entry, path });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // replayed by another process meanwhile
        unreadable.push(path);
      }
    }
    entries.sort((a, b) => a.writtenAt - b.writtenAt);
    return { entries, unreadable };
  }

  remove(path: string): void {
    try {
      unlinkSync(path);
      fsyncDir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw fileSystemError(error, 'rescue journal', path, 'remove an entry from');
      }
    }
  }
}

function fileName(name: string, attemptId: string): string {
  return `${encodeURIComponent(name)}~${attemptId}.rescue`;
}
