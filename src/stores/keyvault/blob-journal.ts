import type { ContainerClient } from '@azure/storage-blob';
import { describeError, TokenkeeperError } from '../../core/errors.ts';
import type { Keyring } from '../../crypto/envelope.ts';
import {
  byWrittenAt,
  isRescueEntryName,
  openRescueEntry,
  rescueEntryName,
  rescueEntryPrefix,
  sealRescueEntry,
  type RescueEntry,
  type RescueJournal,
  type RescueJournalContents,
} from '../rescue-journal.ts';
import { createBlobIfAbsent, statusOf, type LockStorage } from './blob-lease.ts';

/**
 * The rescue journal of a Key Vault store in Azure Blob storage, next to its lock blobs (same account and
 * container, `rescue/<scope>/`): every Functions instance sees it, unlike the per-instance data dir of Flex
 * Consumption, so an instance replays the tokens another one rescued before spending a refresh token. One blob
 * per entry (`<name>~<attemptId>.rescue`), encrypted like the file journal and created with If-None-Match: *,
 * so instances never overwrite each other's entries. Entries that cannot be decrypted are reported, never deleted.
 */
export class BlobRescueJournal implements RescueJournal {
  readonly location: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly keyring: Keyring;
  private readonly pageSize: number | undefined;

  constructor(storage: LockStorage, keyring: Keyring, options: { pageSize?: number } = {}) {
    this.container = storage.container;
    this.prefix = `rescue/${storage.scope}/`;
    this.location = `${storage.location}/${this.prefix.slice(0, -1)}`;
    this.keyring = keyring;
    this.pageSize = options.pageSize;
  }

  async write(entry: RescueEntry): Promise<string> {
    const name = `${this.prefix}${rescueEntryName(entry)}`;
    const body = sealRescueEntry(this.keyring, entry);
    try {
      // Already there: an earlier write of this attempt's entry landed but its answer was lost.
      await createBlobIfAbsent(this.container, name, body);
    } catch (error) {
      throw this.failure(`write the entry of "${entry.name}"`, error);
    }
    return name;
  }

  async read(name?: string): Promise<RescueJournalContents> {
    const prefix = `${this.prefix}${rescueEntryPrefix(name)}`;
    const names: string[] = [];
    try {
      for await (const page of this.container
        .listBlobsFlat({ prefix })
        .byPage(this.pageSize ? { maxPageSize: this.pageSize } : {})) {
        for (const item of page.segment.blobItems) {
          if (isRescueEntryName(item.name)) names.push(item.name);
        }
      }
    } catch (error) {
      if (statusOf(error) === 404) return { entries: [], unreadable: [] }; // no container: nothing journaled
      throw this.failure('list the entries', error);
    }
    const entries: Array<RescueEntry & { path: string }> = [];
    const unreadable: string[] = [];
    for (const path of names) {
      let text: string;
      try {
        text = (await this.container.getBlockBlobClient(path).downloadToBuffer()).toString('utf8');
      } catch (error) {
        if (statusOf(error) === 404) continue; // replayed by another instance meanwhile
        throw this.failure('read an entry', error);
      }
      try {
        entries.push({ ...openRescueEntry(this.keyring, path, text), path });
      } catch {
        unreadable.push(path);
      }
    }
    entries.sort(byWrittenAt);
    return { entries, unreadable };
  }

  async remove(path: string): Promise<void> {
    try {
      await this.container.getBlockBlobClient(path).deleteIfExists();
    } catch (error) {
      if (statusOf(error) === 404) return; // the container is gone, and the entry with it
      throw this.failure('remove an entry', error);
    }
  }

  private failure(what: string, error: unknown): TokenkeeperError {
    return new TokenkeeperError(
      'store',
      `rescue journal in ${this.location} cannot ${what}: ${describeError(error)}`,
      { cause: error },
    );
  }
}
