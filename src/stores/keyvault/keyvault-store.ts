import type { SecretClient } from '@azure/keyvault-secrets';
import { describeError, TokenkeeperError, VersionConflictError } from '../../core/errors.ts';
import { sleep } from '../../core/sleep.ts';
import type { Connection, NewConnection } from '../../core/types.ts';
import type { ConnectionStore, LockHandle, NoticeMarkers } from '../store.ts';
import type { Keyring } from '../../crypto/envelope.ts';
import type { RescueJournal } from '../rescue-journal.ts';
import { statusOf, type BlobLeaseLocks, type HeldLease } from './blob-lease.ts';
import {
  accessTokenTags,
  decodeConnection,
  decodeNote,
  encodeBasicCredentials,
  encodeNote,
  encodeState,
  isWriteAheadOnly,
  noteRevision,
  secretsRevision,
  type DecodedConnection,
  type RawConnection,
  type RawSecret,
} from './codec.ts';
import type { KeyVaultLocation } from './location.ts';
import {
  assertSecretValueFits,
  connectionNamesIn,
  MANAGED_BY,
  isTokenkeeperState,
  mayAdopt,
  secretNamesFor,
  writtenByTokenkeeper,
  type ConnectionSecretNames,
  type SecretListing,
} from './secret-names.ts';

/** How often, and how long apart, a write to a secret that Key Vault is still deleting or recovering is retried. */
const BUSY_SECRET_RETRIES = 6;
const BUSY_SECRET_PAUSE_MS = 1_000;

export interface KeyVaultStoreOptions {
  client: SecretClient;
  locks: BlobLeaseLocks;
  location: KeyVaultLocation;
  /** How long a write outside a held lock waits for the lease (ms). */
  writeLockWaitMs?: number;
  /** Lease length for writes outside a held lock (ms; leases are 15–60 s). */
  writeLockTtlMs?: number;
  /** The rescue journal shared by every process of this vault (blob storage next to the locks). */
  rescueJournal?: (keyring: Keyring) => RescueJournal;
  /** The notice markers shared by every process of this vault (blob storage next to the locks). */
  noticeMarkers?: () => NoticeMarkers;
}

/**
 * Connections in Azure Key Vault, one group of secrets each (the seed's "RefreshToken", "AccessToken",
 * "FitbitCredentials", plus tokenkeeper's "TokenkeeperState"). Key Vault has no compare-and-swap, so every write
 * runs under the connection's blob lease: the lease this process already holds for a refresh (renewed first, so
 * the writes have its full length), or a short one taken just for the write. Under the lease the secrets are
 * re-read and the version compared, then the refresh token is written before the access token, and the state last.
 *
 * A shared vault holds other apps' secrets too. A connection is what tokenkeeper wrote (its state secret, tagged
 * managed-by=tokenkeeper) or what the user named (the seed option, config keyVault.connections); any other secret
 * is never read as a connection, and never written.
 */
export class KeyVaultStore implements ConnectionStore {
  readonly location: string;
  readonly journalFirst = true;
  private readonly client: SecretClient;
  private readonly locks: BlobLeaseLocks;
  private readonly vault: KeyVaultLocation;
  private readonly held = new Map<string, HeldLease>();
  private readonly writing = new Map<string, Promise<unknown>>();
  private readonly leases = new WeakMap<LockHandle, HeldLease>();
  /** Revision last seen per connection and version: catches outside writers that leave no state behind. */
  private readonly seen = new Map<string, { version: number; revision: string }>();
  private readonly writeLockWaitMs: number;
  private readonly writeLockTtlMs: number;
  private readonly writeOwner = `write:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
  private readonly rescueJournal?: (keyring: Keyring) => RescueJournal;
  private readonly noticeMarkers?: () => NoticeMarkers;

  constructor(options: KeyVaultStoreOptions) {
    this.client = options.client;
    this.locks = options.locks;
    this.vault = options.location;
    this.location = `Key Vault ${options.location.vaultUrl}`;
    this.writeLockWaitMs = options.writeLockWaitMs ?? 60_000;
    this.writeLockTtlMs = options.writeLockTtlMs ?? 30_000;
    this.rescueJournal = options.rescueJournal;
    this.noticeMarkers = options.noticeMarkers;
  }

  /** The shared rescue journal, when the store was opened with one (see ConnectionStore.openRescueJournal). */
  openRescueJournal(keyring: Keyring): RescueJournal | undefined {
    return this.rescueJournal?.(keyring);
  }

  /** The shared notice markers, when the store was opened with them (see ConnectionStore.openNoticeMarkers). */
  openNoticeMarkers(): NoticeMarkers | undefined {
    return this.noticeMarkers?.();
  }

  async get(name: string): Promise<Connection | undefined> {
    const decoded = await this.read(name);
    return decoded?.connection;
  }

  async list(): Promise<Connection[]> {
    const listing: SecretListing[] = [];
    try {
      for await (const properties of this.client.listPropertiesOfSecrets()) {
        listing.push({ name: properties.name, tags: properties.tags, contentType: properties.contentType });
      }
    } catch (error) {
      throw this.failure('list secrets', undefined, error);
    }
    const names = connectionNamesIn(listing, this.vault);
    const connections: Connection[] = [];
    for (let start = 0; start < names.length; start += 8) {
      const batch = await Promise.all(names.slice(start, start + 8).map((name) => this.get(name)));
      for (const connection of batch) if (connection) connections.push(connection);
    }
    return connections;
  }

  async insert(connection: NewConnection): Promise<Connection> {
    const names = this.namesOf(connection.name);
    return this.underLease(connection.name, async () => {
      const existing = await this.read(connection.name);
      if (existing) {
        throw new TokenkeeperError(
          'already_exists',
          `connection "${connection.name}" already exists in ${this.location} (secret ${names.refreshToken}): pick another --name or remove it first`,
        );
      }
      if (!mayAdopt(connection.name, this.vault)) await this.refuseForeignSecrets(connection.name, names);
      const now = Date.now();
      const stored: Connection = { ...connection, version: 1, createdAt: now, updatedAt: now };
      return this.writeConnection(stored, names, {});
    });
  }

  async update(connection: Connection): Promise<Connection> {
    const names = this.namesOf(connection.name);
    return this.underLease(connection.name, async (lease) => {
      const seen = this.seen.get(connection.name.toLowerCase());
      const current = await this.read(connection.name);
      if (!current || current.connection.version !== connection.version) {
        throw new VersionConflictError(connection.name, connection.version);
      }
      if (seen && seen.version === connection.version && seen.revision !== current.revision) {
        throw new VersionConflictError(connection.name, connection.version);
      }
      const stored: Connection = { ...connection, version: connection.version + 1, updatedAt: Date.now() };
      if (stored.pending && isWriteAheadOnly(current.connection, stored)) {
        // The write-ahead record before each token request goes beside the lock, not into a new state version.
        const { attemptId, startedAt, owner } = stored.pending;
        await this.locks.writeNote(
          lease,
          encodeNote({
            base: current.secretsRevision,
            version: stored.version,
            updatedAt: stored.updatedAt,
            pending: { attemptId, startedAt, owner },
          }),
        );
        this.seen.set(connection.name.toLowerCase(), {
          version: stored.version,
          revision: noteRevision(current.secretsRevision, stored.version),
        });
        return stored;
      }
      return this.writeConnection(stored, names, current.connection, current.raw);
    });
  }

  async delete(name: string): Promise<boolean> {
    const names = this.namesOf(name);
    return this.underLease(name, async () => {
      const current = await this.read(name);
      if (!current) return false;
      const credentialSecrets =
        names.credentials.kind === 'basic'
          ? [names.credentials.secret]
          : [names.credentials.clientId, names.credentials.clientSecret];
      // State first and refresh token last: a delete cut short leaves the refresh token, never a state alone.
      for (const secret of [names.state, names.accessToken, ...credentialSecrets, names.refreshToken]) {
        await this.deleteSecret(secret);
      }
      this.seen.delete(name.toLowerCase());
      return true;
    });
  }

  async tryLock(name: string, owner: string, ttlMs: number): Promise<LockHandle | undefined> {
    this.namesOf(name);
    const lease = await this.locks.tryAcquire(name, owner, ttlMs);
    if (!lease) return undefined;
    this.held.set(name.toLowerCase(), lease);
    const handle: LockHandle = { name, owner, fence: lease.fence, expiresAt: lease.expiresAt };
    this.leases.set(handle, lease);
    return handle;
  }

  async renewLock(handle: LockHandle, _ttlMs: number): Promise<boolean> {
    const lease = this.leases.get(handle);
    if (!lease) return false;
    const ok = await this.locks.renew(lease);
    if (ok) handle.expiresAt = lease.expiresAt;
    else this.forget(lease);
    return ok;
  }

  async releaseLock(handle: LockHandle): Promise<void> {
    const lease = this.leases.get(handle);
    if (!lease) return;
    this.forget(lease);
    await this.locks.release(lease);
  }

  async close(): Promise<void> {
    const leases = [...this.held.values()];
    this.held.clear();
    await Promise.all(leases.map((lease) => this.locks.release(lease).catch(() => undefined)));
  }

  /** For operators and tests: break whatever lease is held on a connection's lock. */
  breakLock(name: string): Promise<void> {
    return this.locks.breakLock(name);
  }

  private forget(lease: HeldLease): void {
    const key = lease.name.toLowerCase();
    if (this.held.get(key) === lease) this.held.delete(key);
  }

  /**
   * Runs a write holding the connection's lease: the one this process holds (renewed first, which also proves it
   * was not lost), else a short lease taken for this write alone, waiting for another holder to finish.
   */
  /**
   * Serialises this process's writers of one connection (a timer run, an HTTP-triggered refresh, a reconnect)
   * and, across processes, holds the connection's blob lease while writing.
   */
  private underLease<T>(name: string, work: (lease: HeldLease) => Promise<T>): Promise<T> {
    const key = name.toLowerCase();
    const run = (this.writing.get(key) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.underBlobLease(name, work));
    this.writing.set(key, run);
    return run.finally(() => {
      if (this.writing.get(key) === run) this.writing.delete(key);
    });
  }

  private async underBlobLease<T>(name: string, work: (lease: HeldLease) => Promise<T>): Promise<T> {
    const mine = this.held.get(name.toLowerCase());
    if (mine) {
      if (await this.locks.renew(mine)) return work(mine);
      this.forget(mine);
    }
    const started = Date.now();
    let pause = 10;
    let lease: HeldLease | undefined;
    while (!(lease = await this.locks.tryAcquire(name, this.writeOwner, this.writeLockTtlMs))) {
      if (Date.now() - started > this.writeLockWaitMs) {
        throw new TokenkeeperError(
          'lock_timeout',
          `connection "${name}" stayed locked for ${Math.round(this.writeLockWaitMs / 1000)} s while writing to ${this.location}; try again`,
        );
      }
      await sleep(pause + Math.random() * pause);
      pause = Math.min(200, pause * 2);
    }
    try {
      return await work(lease);
    } finally {
      await this.locks.release(lease).catch(() => undefined);
    }
  }

  /**
   * Writes what changed, in the order that keeps a rotated refresh token safe: credentials, refresh token,
   * access token (with its expiry and tags), then the state that records the versions just written.
   */
  private async writeConnection(
    stored: Connection,
    names: ConnectionSecretNames,
    previous: Partial<Connection>,
    raw: RawConnection = {},
  ): Promise<Connection> {
    const writes: Array<{ secret: string; value: string }> = [];
    const credentialWrites = this.credentialWrites(stored, names, previous);
    for (const write of credentialWrites) writes.push(write);
    const { refreshToken, accessToken } = stored.tokens;
    const newRefreshToken = refreshToken !== undefined && refreshToken !== raw.refreshToken?.value;
    const newAccessToken =
      accessToken !== undefined &&
      (accessToken !== raw.accessToken?.value || stored.tokens.expiresAt !== previous.tokens?.expiresAt);
    if (newRefreshToken) writes.push({ secret: names.refreshToken, value: refreshToken });
    if (newAccessToken) writes.push({ secret: names.accessToken, value: accessToken });
    for (const write of writes) assertSecretValueFits(write.secret, write.value);

    // A client without a secret (a public client, or a move to another provider's client that has none): the
    // stored secret goes first, so it is never read back beside the new client and sent to a token endpoint it
    // was not issued for, even if this write stops half-way.
    for (const secret of staleCredentialSecrets(stored, names, raw)) await this.deleteSecret(secret);
    for (const write of credentialWrites) await this.setSecret(write.secret, write.value, { tags: {} });
    let refreshTokenVersion = raw.refreshToken?.version;
    let accessTokenVersion = raw.accessToken?.version;
    if (newRefreshToken) {
      refreshTokenVersion = await this.setSecret(names.refreshToken, refreshToken, {
        tags: { connection: stored.name },
      });
    }
    if (newAccessToken) {
      accessTokenVersion = await this.setSecret(names.accessToken, accessToken, {
        tags: accessTokenTags(stored, { accountTags: this.vault.accountTags }),
        ...(stored.tokens.expiresAt !== undefined && { expiresOn: new Date(stored.tokens.expiresAt) }),
      });
    }
    const state = JSON.stringify(
      encodeState(stored, { refreshToken: refreshTokenVersion, accessToken: accessTokenVersion }),
    );
    assertSecretValueFits(names.state, state);
    await this.setSecret(names.state, state, {
      contentType: 'application/json',
      tags: { connection: stored.name },
    });
    this.seen.set(stored.name.toLowerCase(), {
      version: stored.version,
      revision: secretsRevision(stored.version, refreshTokenVersion, accessTokenVersion),
    });
    return stored;
  }

  private credentialWrites(
    stored: Connection,
    names: ConnectionSecretNames,
    previous: Partial<Connection>,
  ): Array<{ secret: string; value: string }> {
    const changed = stored.clientId !== previous.clientId || stored.clientSecret !== previous.clientSecret;
    if (!changed) return [];
    if (names.credentials.kind === 'basic') {
      // The Basic value needs a secret; without one the client id lives in the state alone.
      if (stored.clientSecret === undefined) return [];
      return [
        {
          secret: names.credentials.secret,
          value: encodeBasicCredentials(stored.clientId, stored.clientSecret),
        },
      ];
    }
    return [
      { secret: names.credentials.clientId, value: stored.clientId },
      ...(stored.clientSecret === undefined
        ? []
        : [{ secret: names.credentials.clientSecret, value: stored.clientSecret }]),
    ];
  }

  /**
   * Reads a connection's secrets and its write-ahead note. Unless the user named the connection, its state
   * secret is read first and must be tokenkeeper's: another app's "NAME-RefreshToken" is never read.
   */
  private async read(name: string): Promise<(DecodedConnection & { raw: RawConnection }) | undefined> {
    const names = this.namesOf(name);
    const credentials = names.credentials;
    const key = name.toLowerCase();
    let state: RawSecret | undefined;
    if (!mayAdopt(name, this.vault) && !this.seen.has(key)) {
      state = await this.readSecret(names.state);
      if (!state || !(await this.isOurs(name, state, names))) return undefined;
    }
    const [stateNow, refreshToken, accessToken, first, second, noteText] = await Promise.all([
      state ? Promise.resolve(state) : this.readSecret(names.state),
      this.readSecret(names.refreshToken),
      this.readSecret(names.accessToken),
      this.readSecret(credentials.kind === 'basic' ? credentials.secret : credentials.clientId),
      credentials.kind === 'split' ? this.readSecret(credentials.clientSecret) : Promise.resolve(undefined),
      this.locks.readNote(name),
    ]);
    const checkState = !mayAdopt(name, this.vault) && stateNow !== state;
    if (checkState && (!stateNow || !(await this.isOurs(name, stateNow, names)))) {
      this.seen.delete(key); // removed (or replaced by someone else) since this process last read it
      return undefined;
    }
    const raw: RawConnection =
      credentials.kind === 'basic'
        ? { state: stateNow, refreshToken, accessToken, basicCredentials: first }
        : { state: stateNow, refreshToken, accessToken, clientId: first, clientSecret: second };
    const decoded = decodeConnection(name, raw, { provider: this.vault.seedProvider }, decodeNote(noteText));
    if (!decoded) return undefined;
    this.seen.set(key, { version: decoded.connection.version, revision: decoded.revision });
    return { ...decoded, raw };
  }

  /** Whether a state secret is tokenkeeper's; an untagged (older) one is judged by its refresh token's tags. */
  private async isOurs(name: string, state: RawSecret, names: ConnectionSecretNames): Promise<boolean> {
    if (writtenByTokenkeeper(state)) return true;
    if (state.contentType !== 'application/json') return false;
    return isTokenkeeperState(name, state, await this.latestProperties(names.refreshToken));
  }

  /**
   * Before a new connection writes its secrets: refuses if any of them exists and was not written by tokenkeeper
   * (another app's secret of that name), reading only the versions' properties, never a value.
   */
  private async refuseForeignSecrets(connection: string, names: ConnectionSecretNames): Promise<void> {
    const credentialSecrets =
      names.credentials.kind === 'basic'
        ? [names.credentials.secret]
        : [names.credentials.clientId, names.credentials.clientSecret];
    for (const secret of [names.refreshToken, names.accessToken, names.state, ...credentialSecrets]) {
      const latest = await this.latestProperties(secret);
      if (latest && !writtenByTokenkeeper(latest)) {
        throw new TokenkeeperError(
          'already_exists',
          `${this.location} already holds a secret "${secret}" that tokenkeeper did not write: pick another --name, or name this connection's secrets in the config (keyVault.connections.${connection}) if tokenkeeper should take them over`,
        );
      }
    }
  }

  private async latestProperties(
    secret: string,
  ): Promise<{ tags?: Record<string, string>; contentType?: string } | undefined> {
    let latest: { tags?: Record<string, string>; contentType?: string; createdOn: number } | undefined;
    try {
      for await (const properties of this.client.listPropertiesOfSecretVersions(secret)) {
        const createdOn = properties.createdOn?.getTime() ?? 0;
        if (!latest || createdOn >= latest.createdOn) {
          latest = { tags: properties.tags, contentType: properties.contentType, createdOn };
        }
      }
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.failure('list versions', secret, error);
    }
    return latest;
  }

  private async readSecret(secret: string): Promise<RawSecret | undefined> {
    try {
      const result = await this.client.getSecret(secret);
      if (result.value === undefined) return undefined;
      return {
        value: result.value,
        version: result.properties.version ?? '',
        createdOn: result.properties.createdOn?.getTime(),
        expiresOn: result.properties.expiresOn?.getTime(),
        tags: result.properties.tags,
        contentType: result.properties.contentType,
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.failure('read', secret, error);
    }
  }

  private async setSecret(
    secret: string,
    value: string,
    options: { tags: Record<string, string>; expiresOn?: Date; contentType?: string },
  ): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.client.setSecret(secret, value, {
          contentType: options.contentType ?? 'text/plain',
          tags: { ...options.tags, [MANAGED_BY.tag]: MANAGED_BY.value },
          ...(options.expiresOn && { expiresOn: options.expiresOn }),
        });
        return result.properties.version ?? '';
      } catch (error) {
        if (statusOf(error) !== 409) throw this.failure('write', secret, error);
        const conflict = conflictOf(error);
        if (conflict === 'busy' && attempt < BUSY_SECRET_RETRIES) {
          await sleep(BUSY_SECRET_PAUSE_MS * attempt);
          continue;
        }
        throw new TokenkeeperError(
          'store',
          conflict === 'busy'
            ? `Key Vault secret "${secret}" is still being deleted or recovered after ${BUSY_SECRET_RETRIES} tries: wait a minute and try again`
            : `Key Vault secret "${secret}" is deleted but recoverable: recover it (az keyvault secret recover) or purge it (az keyvault secret purge), then try again`,
          { cause: error },
        );
      }
    }
  }

  private async deleteSecret(secret: string): Promise<void> {
    try {
      const poller = await this.client.beginDeleteSecret(secret, { intervalInMs: 250 });
      await poller.pollUntilDone();
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw this.failure('delete', secret, error);
    }
    try {
      // Purging frees the name for a later connection of the same name; it needs the purge permission.
      await this.client.purgeDeletedSecret(secret);
    } catch {
      // Without purge permission the secret stays soft-deleted until its retention ends.
    }
  }

  private namesOf(name: string): ConnectionSecretNames {
    return secretNamesFor(name, this.vault);
  }

  private failure(what: string, secret: string | undefined, error: unknown): TokenkeeperError {
    const status = statusOf(error);
    const code = (error as { code?: unknown }).code;
    const detail = [status, typeof code === 'string' ? code : undefined].filter(Boolean).join(' ');
    const hint =
      status === 401 || status === 403
        ? ': the identity needs the "Key Vault Secrets Officer" role on the vault (RBAC) or get/set/list/delete secret permissions'
        : '';
    return new TokenkeeperError(
      'store',
      `${this.location}: ${what}${secret ? ` of secret "${secret}"` : ''} failed${detail ? ` (${detail})` : ''}: ${describeError(error)}${hint}`,
      { cause: error },
    );
  }
}

/**
 * The credentials secrets holding a client secret that `stored` no longer has: on a read they would come back
 * as its client secret (and, combined, its client id), so they must go.
 */
function staleCredentialSecrets(
  stored: Connection,
  names: ConnectionSecretNames,
  raw: RawConnection,
): string[] {
  if (stored.clientSecret !== undefined) return [];
  if (names.credentials.kind === 'basic') return raw.basicCredentials ? [names.credentials.secret] : [];
  return raw.clientSecret ? [names.credentials.clientSecret] : [];
}

/**
 * Key Vault answers 409 Conflict for a name held by a soft-deleted secret ("ObjectIsDeletedButRecoverable": a
 * person must recover or purge it) and, briefly, while a delete, purge or recovery is still running
 * ("ObjectIsBeingDeleted", "ObjectIsBeingRecovered": retry shortly).
 */
function conflictOf(error: unknown): 'busy' | 'deleted' {
  const response = (error as { response?: { bodyAsText?: string } }).response;
  let inner: string | undefined;
  try {
    inner = (JSON.parse(response?.bodyAsText ?? '{}') as { error?: { innererror?: { code?: string } } }).error
      ?.innererror?.code;
  } catch {
    inner = undefined;
  }
  if (inner === 'ObjectIsBeingDeleted' || inner === 'ObjectIsBeingRecovered') return 'busy';
  if (inner === undefined && /being (deleted|recovered)/i.test(describeError(error))) return 'busy';
  return 'deleted';
}
