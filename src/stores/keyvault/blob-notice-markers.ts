import type { ContainerClient } from '@azure/storage-blob';
import { describeError, TokenkeeperError } from '../../core/errors.ts';
import type { NoticeMarkers } from '../store.ts';
import { createBlobIfAbsent, type LockStorage } from './blob-lease.ts';

/**
 * Notice markers of a Key Vault store: one empty blob per notice id (`notices/<scope>/<id>`) next to the lock
 * blobs, created with If-None-Match: *, so every Functions instance, and every later run, sees what was sent.
 */
export class BlobNoticeMarkers implements NoticeMarkers {
  readonly location: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;

  constructor(storage: LockStorage) {
    this.container = storage.container;
    this.prefix = `notices/${storage.scope}/`;
    this.location = `${storage.location}/${this.prefix.slice(0, -1)}`;
  }

  async has(id: string): Promise<boolean> {
    try {
      return await this.container.getBlockBlobClient(this.nameOf(id)).exists();
    } catch (error) {
      throw this.failure(`read the marker of ${id}`, error);
    }
  }

  async mark(id: string): Promise<boolean> {
    const name = this.nameOf(id);
    try {
      return await createBlobIfAbsent(this.container, name, '');
    } catch (error) {
      throw this.failure(`write the marker of ${id}`, error);
    }
  }

  private nameOf(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(id)) throw new TokenkeeperError('store', `not a notice id: ${id}`);
    return `${this.prefix}${id}`;
  }

  private failure(what: string, error: unknown): TokenkeeperError {
    return new TokenkeeperError(
      'store',
      `notice markers in ${this.location} cannot ${what}: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
}
