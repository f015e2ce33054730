import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import {
  BlobServiceClient,
  type BlobLeaseClient,
  type BlockBlobClient,
  type ContainerClient,
} from '@azure/storage-blob';
import { describeError, TokenkeeperError } from '../../core/errors.ts';

/** A blob lease held on one connection's lock blob. */
export interface HeldLease {
  name: string;
  owner: string;
  fence: number;
  leaseId: string;
  durationSeconds: number;
  expiresAt: number;
  client: BlobLeaseClient;
}

/** Blob metadata key of the write-ahead note (metadata names are C# identifiers). */
const NOTE_KEY = 'writeahead';

/** Where a store's lock blobs live: its container, the per-vault folder in it, and its name for messages. */
export interface LockStorage {
  container: ContainerClient;
  scope: string;
  location: string;
}

/** Azure Blob leases last 15–60 s (or forever, which a crashed holder would never give back). */
export function leaseSeconds(ttlMs: number): number {
  return Math.min(60, Math.max(15, Math.round(ttlMs / 1000)));
}

/**
 * Cross-process, cross-machine locks on Azure Blob leases: one empty blob per connection in a container of the
 * Functions app's own storage account (AzureWebJobsStorage by default). A second acquire answers 409, a crashed
 * holder's lease runs out after its duration, a broken or taken-over lease fails to renew. Each acquisition
 * bumps a `fence` counter kept in the blob's metadata.
 */
export class BlobLeaseLocks {
  readonly location: string;
  private readonly container: ContainerClient;
  private readonly scope: string;
  private readonly ready = new Set<string>();
  private containerReady = false;

  constructor(container: ContainerClient, scope: string, location: string) {
    this.container = container;
    this.scope = scope;
    this.location = location;
  }

  /** One non-blocking attempt; undefined while someone else holds the lease. */
  async tryAcquire(name: string, owner: string, ttlMs: number): Promise<HeldLease | undefined> {
    const blob = this.blobOf(name);
    const durationSeconds = leaseSeconds(ttlMs);
    const leaseId = randomUUID();
    const client = blob.getBlobLeaseClient(leaseId);
    try {
      await this.ensureBlob(name, blob);
      await client.acquireLease(durationSeconds);
    } catch (error) {
      if (statusOf(error) === 409) return undefined;
      if (statusOf(error) === 404) {
        // The container or blob was removed behind our back: create it again once.
        this.ready.delete(name);
        this.containerReady = false;
        await this.ensureBlob(name, blob);
        try {
          await client.acquireLease(durationSeconds);
        } catch (retryError) {
          if (statusOf(retryError) === 409) return undefined;
          throw this.failure('acquire', name, retryError);
        }
      } else {
        throw this.failure('acquire', name, error);
      }
    }
    const expiresAt = Date.now() + durationSeconds * 1000;
    try {
      const properties = await blob.getProperties({ conditions: { leaseId } });
      const fence = (Number(properties.metadata?.fence) || 0) + 1;
      // The write-ahead note outlives the lease that wrote it: a crashed holder's successor must see it.
      const note = properties.metadata?.[NOTE_KEY];
      await blob.setMetadata(
        { fence: String(fence), owner: asciiOnly(owner), ...(note && { [NOTE_KEY]: note }) },
        { conditions: { leaseId } },
      );
      return { name, owner, fence, leaseId, durationSeconds, expiresAt, client };
    } catch (error) {
      await client.releaseLease().catch(() => undefined);
      throw this.failure('acquire', name, error);
    }
  }

  /** False when the lease is gone (broken, expired and taken, or released); throws on other failures. */
  async renew(lease: HeldLease): Promise<boolean> {
    try {
      await lease.client.renewLease();
      lease.expiresAt = Date.now() + lease.durationSeconds * 1000;
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 409 || status === 412 || status === 404) return false;
      throw this.failure('renew', lease.name, error);
    }
  }

  async release(lease: HeldLease): Promise<void> {
    try {
      await lease.client.releaseLease();
    } catch (error) {
      const status = statusOf(error);
      if (status !== 409 && status !== 412 && status !== 404)
        throw this.failure('release', lease.name, error);
    }
  }

  /** The write-ahead note kept on a connection's lock blob (see codec.ts WriteAheadNote); undefined if none. */
  async readNote(name: string): Promise<string | undefined> {
    try {
      const properties = await this.blobOf(name).getProperties();
      return properties.metadata?.[NOTE_KEY];
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.failure('note read', name, error);
    }
  }

  /** Sets the note under the held lease (the metadata keeps the fence and owner of that lease). */
  async writeNote(lease: HeldLease, note: string): Promise<void> {
    try {
      await this.blobOf(lease.name).setMetadata(
        { fence: String(lease.fence), owner: asciiOnly(lease.owner), [NOTE_KEY]: note },
        { conditions: { leaseId: lease.leaseId } },
      );
    } catch (error) {
      throw this.failure('note write', lease.name, error);
    }
  }

  /** Breaks whatever lease is on a connection's lock at once (operators and tests). */
  async breakLock(name: string): Promise<void> {
    await this.blobOf(name).getBlobLeaseClient().breakLease(0);
  }

  /** The container and scope of these locks, for other blobs that belong next to them (the rescue journal). */
  storage(): LockStorage {
    return { container: this.container, scope: this.scope, location: this.location };
  }

  private blobOf(name: string): BlockBlobClient {
    return this.container.getBlockBlobClient(`${this.scope}/${name.toLowerCase()}`);
  }

  private async ensureBlob(name: string, blob: BlockBlobClient): Promise<void> {
    if (this.ready.has(name)) return;
    if (!this.containerReady) {
      await this.container.createIfNotExists();
      this.containerReady = true;
    }
    try {
      await blob.upload('', 0, { conditions: { ifNoneMatch: '*' } });
    } catch (error) {
      // 409: exists (and maybe leased); 412: exists. Either way the blob is there.
      const status = statusOf(error);
      if (status !== 409 && status !== 412) throw error;
    }
    this.ready.add(name);
  }

  private failure(what: string, name: string, error: unknown): TokenkeeperError {
    return new TokenkeeperError(
      'store',
      `lock ${what} for "${name}" in ${this.location} failed: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/**
 * Where the lock blobs live: TOKENKEEPER_LOCK_STORAGE, else the Functions app's AzureWebJobsStorage (a
 * connection string, or identity-based `AzureWebJobsStorage__blobServiceUri` / `__accountName`). A URL in
 * TOKENKEEPER_LOCK_STORAGE / AzureWebJobsStorage uses `credential`; the identity-based AzureWebJobsStorage
 * uses `webJobsStorageCredential` (the host's `__credential` / `__clientId`, see credential.ts).
 */
export function openLockStorage(
  env: NodeJS.ProcessEnv,
  containerName: string,
  scope: string,
  credential: () => Promise<TokenCredential>,
  webJobsStorageCredential: () => Promise<TokenCredential> = credential,
): Promise<BlobLeaseLocks> {
  const explicit = env.TOKENKEEPER_LOCK_STORAGE ?? env.AzureWebJobsStorage;
  const serviceUri =
    env.AzureWebJobsStorage__blobServiceUri ??
    (env.AzureWebJobsStorage__accountName
      ? `https://${env.AzureWebJobsStorage__accountName}.blob.core.windows.net`
      : undefined);
  const value = explicit ?? serviceUri;
  if (!value) {
    throw new TokenkeeperError(
      'config',
      'the Key Vault store needs blob storage for its locks: set TOKENKEEPER_LOCK_STORAGE (or AzureWebJobsStorage) to the function app storage connection string or blob URL',
    );
  }
  return buildLocks(value, containerName, scope, explicit ? credential : webJobsStorageCredential);
}

async function buildLocks(
  value: string,
  containerName: string,
  scope: string,
  credential: () => Promise<TokenCredential>,
): Promise<BlobLeaseLocks> {
  let service: BlobServiceClient;
  try {
    service = /^https?:\/\//i.test(value)
      ? new BlobServiceClient(value, await credential())
      : BlobServiceClient.fromConnectionString(value);
  } catch (error) {
    throw new TokenkeeperError(
      'config',
      `lock storage setting is neither a storage connection string nor a blob service URL: ${describeError(error)}`,
    );
  }
  const account = service.accountName || new URL(service.url).host;
  return new BlobLeaseLocks(
    service.getContainerClient(containerName),
    scope,
    `blob container ${account}/${containerName}`,
  );
}

/**
 * Creates blob `name` holding `body` unless it exists (If-None-Match: *), creating the container first when the
 * account has none yet. True when this call created it, false when it was there already; any other failure is
 * the SDK's error.
 */
export async function createBlobIfAbsent(
  container: ContainerClient,
  name: string,
  body: string,
): Promise<boolean> {
  const blob = container.getBlockBlobClient(name);
  const upload = () => blob.upload(body, Buffer.byteLength(body), { conditions: { ifNoneMatch: '*' } });
  try {
    try {
      await upload();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      // No container yet (nothing was locked, journaled or marked in this account so far).
      await container.createIfNotExists();
      await upload();
    }
    return true;
  } catch (error) {
    const status = statusOf(error);
    if (status === 409 || status === 412) return false;
    throw error;
  }
}

export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function asciiOnly(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
