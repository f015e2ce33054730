import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { describeError, TokenkeeperError } from '../core/errors.ts';
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

/** What `read` returns: decrypted entries (with the id `remove` takes) and ids of entries it cannot decrypt. */
export interface RescueJournalContents {
  entries: Array<RescueEntry & { path: string }>;
  unreadable: string[];
}

/**
 * The rescue journal of design step 5: where a freshly rotated token set waits when the store cannot take it,
 * until it is replayed into the store. Entries are encrypted with the keyring (AAD `rescue:<attemptId>`), one
 * per attempt, so concurrent processes never rewrite each other's entries; entries that cannot be decrypted are
 * reported, never deleted.
 */
export interface RescueJournal {
  /** Where the journal lives, for messages (a directory, a blob container; no secrets). */
  readonly location: string;
  /** Stores one entry durably; returns the id (`path`) that `remove` takes. */
  write(entry: RescueEntry): Promise<string>;
  /** Entries for one connection (or all), oldest first. */
  read(name?: string): Promise<RescueJournalContents>;
  /** Removes an entry; an entry already gone is fine. */
  remove(path: string): Promise<void>;
}

const ENTRY_SUFFIX = '.rescue';

/** The name of an entry in any journal (a file, a blob): `<connection>~<attemptId>.rescue`. */
export function rescueEntryName(entry: Pick<RescueEntry, 'name' | 'attemptId'>): string {
  return `${encodeURIComponent(entry.name)}~${entry.attemptId}${ENTRY_SUFFIX}`;
}

/** What the names of one connection's entries (or of all, without a name) start with. */
export function rescueEntryPrefix(name?: string): string {
  return name === undefined ? '' : `${encodeURIComponent(name)}~`;
}

export function isRescueEntryName(fileName: string): boolean {
  return fileName.endsWith(ENTRY_SUFFIX);
}

/** An entry encrypted with the keyring, bound to its attempt (AAD `rescue:<attemptId>`). */
export function sealRescueEntry(keyring: Keyring, entry: RescueEntry): string {
  return encrypt(keyring, JSON.stringify(entry), `rescue:${entry.attemptId}`);
}

/** Decrypts an entry stored under `entryName` (its attempt id comes from the name); throws if it cannot. */
export function openRescueEntry(keyring: Keyring, entryName: string, sealed: string): RescueEntry {
  const attemptId = entryName.slice(entryName.lastIndexOf('~') + 1, -ENTRY_SUFFIX.length);
  return JSON.parse(decrypt(keyring, sealed, `rescue:${attemptId}`)) as RescueEntry;
}

/** Oldest first, as replays apply them. */
export function byWrittenAt(a: RescueEntry, b: RescueEntry): number {
  return a.writtenAt - b.writtenAt;
}

/**
 * The local rescue journal in the data dir: one encrypted 0600 file per entry, fsynced, renamed into place.
 */
export class FileRescueJournal implements RescueJournal {
  readonly dir: string;
  readonly location: string;
  private readonly keyring: Keyring;

  /**
   * `dir` lives in the data dir. Both are checked at once (nothing is created until an entry is written), so a
   * journal that could never be written is refused at start, not discovered during a store outage.
   */
  constructor(dir: string, keyring: Keyring) {
    this.dir = dir;
    this.location = dir;
    this.keyring = keyring;
    ensureDataDir(dirname(dir), { create: false });
    checkOwnSubdirectory(dir, 'rescue journal');
  }

  write(entry: RescueEntry): Promise<string> {
    return Promise.resolve().then(() => this.writeSync(entry));
  }

  read(name?: string): Promise<RescueJournalContents> {
    return Promise.resolve().then(() => this.readSync(name));
  }

  remove(path: string): Promise<void> {
    return Promise.resolve().then(() => this.removeSync(path));
  }

  private writeSync(entry: RescueEntry): string {
    ensureDataDir(dirname(this.dir));
    ensureOwnSubdirectory(this.dir, 'rescue journal');
    const path = join(this.dir, rescueEntryName(entry));
    try {
      writeFileDurably(path, sealRescueEntry(this.keyring, entry));
    } catch (error) {
      throw fileSystemError(error, 'rescue journal', path, 'write');
    }
    return path;
  }

  /** Entries for one connection (or all), oldest first. Unreadable files are reported, never deleted. */
  private readSync(name?: string): RescueJournalContents {
    let files: string[];
    try {
      files = readdirSync(this.dir).filter(isRescueEntryName);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { entries: [], unreadable: [] };
      throw fileSystemError(error, 'rescue journal', this.dir, 'read');
    }
    const prefix = rescueEntryPrefix(name);
    const entries: Array<RescueEntry & { path: string }> = [];
    const unreadable: string[] = [];
    for (const file of files.filter((candidate) => candidate.startsWith(prefix))) {
      const path = join(this.dir, file);
      try {
        entries.push({ ...openRescueEntry(this.keyring, file, readFileSync(path, 'utf8')), path });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // replayed by another process meanwhile
        unreadable.push(path);
      }
    }
    entries.sort(byWrittenAt);
    return { entries, unreadable };
  }

  private removeSync(path: string): void {
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

/**
 * A store's shared journal (`primary`, e.g. blob storage next to a Key Vault) in front of the local one of the
 * data dir. Reads return the entries of both, so entries an earlier version left in the data dir are replayed
 * too; writes go to the shared journal, and to the local one only when the shared one refuses (a rotated token
 * on this instance's disk still beats one only in memory).
 */
export class SharedRescueJournal implements RescueJournal {
  readonly location: string;
  private readonly primary: RescueJournal;
  private readonly local: FileRescueJournal;

  constructor(primary: RescueJournal, local: FileRescueJournal) {
    this.primary = primary;
    this.local = local;
    this.location = `${primary.location} (and the local ${local.location})`;
  }

  async write(entry: RescueEntry): Promise<string> {
    try {
      return await this.primary.write(entry);
    } catch (primaryError) {
      try {
        return await this.local.write(entry);
      } catch (localError) {
        throw new TokenkeeperError(
          'store',
          `rescue journals ${this.primary.location} and ${this.local.location} both refuse writes: ${describeError(primaryError)}; ${describeError(localError)}`,
          { cause: primaryError },
        );
      }
    }
  }

  async read(name?: string): Promise<RescueJournalContents> {
    const [shared, local] = await Promise.all([this.primary.read(name), this.local.read(name)]);
    const entries = [...shared.entries, ...local.entries].sort(byWrittenAt);
    return { entries, unreadable: [...shared.unreadable, ...local.unreadable] };
  }

  remove(path: string): Promise<void> {
    return this.isLocal(path) ? this.local.remove(path) : this.primary.remove(path);
  }

  private isLocal(path: string): boolean {
    return path.startsWith(`${this.local.dir}${sep}`);
  }
}
