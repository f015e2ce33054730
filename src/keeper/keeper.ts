import type { TokenCredential } from '@azure/identity';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ConfigFile } from '../config/schema.ts';
import { resolveSettings, type Settings } from '../config/settings.ts';
import { defaultBackoff } from '../core/backoff.ts';
import { describeError, TokenkeeperError } from '../core/errors.ts';
import { DAY_MS } from '../core/duration.ts';
import type { KeeperEvent, KeeperEventListener } from '../core/events.ts';
import {
  defaultExpiryPolicy,
  isDue,
  isUsable,
  nextRefreshAt,
  stableFraction,
  widestExpiringSoonMs,
  type ExpiryPolicy,
} from '../core/expiry.ts';
import { backoffLeftMs } from '../core/failure.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { activeWith, Refresher, type RefreshResult, type RefreshSettings } from '../engine/refresher.ts';
import { needsHuman, systemClock, type Clock, type Connection, type TokenSet } from '../core/types.ts';
import { loadKeyring } from '../crypto/key-source.ts';
import type { Keyring } from '../crypto/envelope.ts';
import { requestToken, TokenEndpointError } from '../oauth/token-client.ts';
import { revokeToken } from '../oauth/revoke.ts';
import { createProviderRegistry, successorOf, type ProviderRegistry } from '../providers/registry.ts';
import type { RotationRule } from '../providers/types.ts';
import { FileRescueJournal, SharedRescueJournal, type RescueJournal } from '../stores/rescue-journal.ts';
import { CreatedPaths } from '../files/owned-path.ts';
import { openStore } from '../stores/open-store.ts';
import type { ConnectionStore } from '../stores/store.ts';
import { assertConnectionName } from '../core/names.ts';
import type {
  ConnectionSummary,
  NewConnectionInput,
  ReconnectOptions,
  ReplacedConnection,
} from '../core/types.ts';
import {
  expiringSoonEvent,
  expiryNotices,
  nextWarningAt,
  openNotices,
  type AnnouncedNotices,
  type ExpiringSoonEvent,
  type ExpiryNotice,
} from './expiry-notices.ts';
import { TokenCache } from './token-cache.ts';

export type { ConnectionSummary, NewConnectionInput, ReconnectOptions, ReplacedConnection };

export interface KeeperOptions {
  /** Config file path, or the config itself. Default: TOKENKEEPER_CONFIG or ./tokenkeeper.json if present. */
  config?: string | ConfigFile;
  /** SQLite store path (overrides config and TOKENKEEPER_STORE). */
  store?: string;
  /**
   * Settings resolved already (resolveSettings, as the CLI does with its flags); `config` and `store` are then
   * not read. Default: resolved from `config`, `store` and `env`.
   */
  resolved?: Settings;
  /** A ready store (e.g. a custom implementation); takes precedence over `store`. */
  connectionStore?: ConnectionStore;
  /** For a keyvault:// store: the Microsoft Entra credential for the vault and its locks; default chosen from env. */
  azureCredential?: TokenCredential;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Time source for expiry decisions (tests and simulations). Locks always use real time. */
  clock?: Clock;
  onEvent?: KeeperEventListener;
}

/** The total deadline of a refresh that `accessToken` must make before it can answer. */
export const DEFAULT_TOKEN_TIMEOUT_MS = 30_000;
/**
 * How long `accessToken` lets the recovery of an unfinished attempt run before it serves the stored token: that
 * attempt may have rotated the tokens (and some providers then revoke the stored access token), but a provider
 * that is down must not hold up a caller who has a token.
 */
const PENDING_RECOVERY_WAIT_MS = 500;
/**
 * How long a background renewal may wait for the connection's lock before its one request. The request itself
 * gets the full token-endpoint timeout: cutting it shorter would turn slow answers into unknown outcomes, and a
 * rotated refresh token whose answer is abandoned is the one loss that matters. The caller already has its token.
 */
const BACKGROUND_LOCK_WAIT_MS = 1_000;

export interface AccessTokenOptions {
  /** The token must stay valid this long (ms); one expiring sooner is refreshed first. Default: usable now. */
  minValidMs?: number;
  /** One total deadline (ms) for a refresh this call must make before it can answer. Default 30 s. */
  timeoutMs?: number;
}

/** What `refresh` did to one connection. */
export type RefreshOutcome = 'refreshed' | 'not_due';

/** A valid access token and what the provider said about it; never the refresh token. */
export interface AccessTokenDetails {
  accessToken: string;
  tokenType?: string;
  expiresAt?: number;
  scope?: string;
}

export class Keeper {
  readonly providers: ProviderRegistry;
  readonly store: ConnectionStore;
  readonly settings: RefreshSettings;
  /** The settings this keeper was opened with. */
  readonly loaded: Settings;
  private readonly refresher: Refresher;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly listeners = new Set<KeeperEventListener>();
  /** Renewals started by `accessToken` that nobody waits for; `close` lets them finish (they are bounded). */
  private readonly renewals = new Set<Promise<unknown>>();
  /** Connections `accessToken` decoded, kept while the store says they have not changed. */
  private readonly tokenCache: TokenCache;

  constructor(parts: {
    loaded: Settings;
    providers: ProviderRegistry;
    store: ConnectionStore;
    journal: RescueJournal;
    settings: RefreshSettings;
    clock: Clock;
    logger: Logger;
  }) {
    this.loaded = parts.loaded;
    this.providers = parts.providers;
    this.store = parts.store;
    this.settings = parts.settings;
    this.clock = parts.clock;
    this.logger = parts.logger;
    this.tokenCache = new TokenCache(parts.store);
    this.refresher = new Refresher({
      store: parts.store,
      journal: parts.journal,
      provider: (id) => parts.providers.get(id),
      requestToken,
      clock: parts.clock,
      logger: parts.logger,
      emit: (event) => this.emit(event),
      owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
      settings: parts.settings,
    });
  }

  onEvent(listener: KeeperEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Tells every listener. A listener that throws is logged and skipped: the refresh that raised the event has
   * already saved its tokens, and neither it nor the other listeners may fail because of one of them.
   */
  private emit(event: KeeperEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error(
          { event: event.type, connection: event.name, error: describeError(error) },
          'an event listener threw; ignored',
        );
      }
    }
  }

  /**
   * A valid access token. A usable stored token is served at once; when it is due, or an earlier attempt was
   * left unfinished, its renewal runs in the background (bounded). Only a token that is expired (or would expire
   * within `minValidMs`) is refreshed first, within one deadline. The refresh token never leaves the keeper.
   */
  async accessToken(name: string, options: AccessTokenOptions = {}): Promise<string> {
    return (await this.accessTokenDetails(name, options)).accessToken;
  }

  /** `accessToken` with the token's expiry, type and scope (for the HTTP API and `token --json`). */
  async accessTokenDetails(name: string, options: AccessTokenOptions = {}): Promise<AccessTokenDetails> {
    const minValidMs = options.minValidMs ?? 0;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
    const servable = (connection: Connection) =>
      this.servable(connection.tokens, minValidMs, this.expiryPolicy(connection.provider));
    const read = await this.tokenCache.read(name, () => this.refresher.current(name));
    const { connection } = read;
    // Newer tokens waiting in the rescue journal may have revoked the stored access token. A kept connection was
    // checked when it was read: entries only appear after a write-ahead, which moves the store's stamp.
    if (servable(connection) && (read.fromCache || !(await this.refresher.hasRescued(name)))) {
      const renewal = this.renewInBackground(connection);
      if (renewal && connection.pending) {
        const recovered = await settledWithin(renewal, PENDING_RECOVERY_WAIT_MS);
        if (recovered && servable(recovered.connection)) return tokenDetails(recovered.connection.tokens);
      }
      // An unfinished attempt is looked at again on every call, as are its journal entries.
      if (!connection.pending) read.keep();
      return tokenDetails(connection.tokens);
    }
    // The engine would not refresh a token that is not due yet: one that must outlive minValidMs is forced.
    const force = !isDue(connection.tokens, this.clock.now(), this.expiryPolicy(connection.provider));
    return tokenDetails((await this.refresher.refresh(name, { force, timeoutMs })).tokens);
  }

  /**
   * Whether a stored token can be handed out as it is: it outlives `minValidMs`, and it is either not due (the
   * engine's own notion of fresh, which also covers lifetimes shorter than the usual skew) or still usable.
   */
  private servable(tokens: TokenSet, minValidMs: number, policy: ExpiryPolicy): boolean {
    const now = this.clock.now();
    if (!tokens.accessToken || tokens.expiresAt === undefined || tokens.expiresAt - now <= minValidMs) {
      return false;
    }
    return isUsable(tokens, now) || !isDue(tokens, now, policy);
  }

  /**
   * Starts renewing a connection whose usable token is due, or whose last attempt has an unknown outcome (which
   * must be retried with the same refresh token inside the provider's grace window). One request, bounded; a
   * due token is not renewed while the connection backs off. Undefined when there is nothing to do.
   */
  private renewInBackground(connection: Connection): Promise<RefreshResult | undefined> | undefined {
    const now = this.clock.now();
    const due = isDue(connection.tokens, now, this.expiryPolicy(connection.provider));
    const backingOff = backoffLeftMs(connection, now) > 0;
    // An unfinished attempt is retried at once, as every refresh does: the provider's grace window may be closing.
    if (!connection.pending && (!due || backingOff)) return undefined;
    const renewal = this.refresher
      .refreshReporting(connection.name, {
        timeoutMs: this.settings.http.timeoutMs + BACKGROUND_LOCK_WAIT_MS,
        maxAttempts: 1,
      })
      .catch((error: unknown) => {
        // A provider failure was logged by the engine already ("refresh failed"); others (store, lock) were not.
        const log = error instanceof TokenEndpointError ? this.logger.debug : this.logger.warn;
        log.call(
          this.logger,
          { connection: connection.name, error: describeError(error) },
          'renewal failed; the stored access token is still valid and was served',
        );
        return undefined;
      });
    this.renewals.add(renewal);
    void renewal.finally(() => this.renewals.delete(renewal));
    return renewal;
  }

  /** Resolves when the renewals `accessToken` started in the background have finished. */
  async idle(): Promise<void> {
    while (this.renewals.size > 0) await Promise.all([...this.renewals]);
  }

  async refresh(name: string, options: { force?: boolean } = {}): Promise<ConnectionSummary> {
    return this.summarize(await this.refresher.refresh(name, options));
  }

  /** `refresh`, also saying whether it renewed the tokens or found nothing due. */
  async refreshReporting(
    name: string,
    options: { force?: boolean } = {},
  ): Promise<{ summary: ConnectionSummary; outcome: RefreshOutcome }> {
    const { connection, refreshed } = await this.refresher.refreshReporting(name, options);
    return { summary: this.summarize(connection), outcome: refreshed ? 'refreshed' : 'not_due' };
  }

  async get(name: string): Promise<ConnectionSummary | undefined> {
    const connection = await this.store.get(name);
    return connection && this.summarize(connection);
  }

  async status(): Promise<ConnectionSummary[]> {
    return (await this.store.list()).map((connection) => this.summarize(connection));
  }

  /** Saves a newly consented or imported connection. */
  async addConnection(input: NewConnectionInput): Promise<ConnectionSummary> {
    assertConnectionName(input.name);
    this.providers.get(input.provider);
    assertRenewable(input, input.tokens);
    const saved = await this.store.insert({
      name: input.name,
      provider: input.provider,
      grant: input.grant ?? 'refresh_token',
      clientId: input.clientId,
      clientSecret: input.clientSecret,
      tokens: input.tokens,
      status: 'active',
      failureCount: 0,
    });
    return this.summarize(saved);
  }

  /**
   * Replaces the tokens of an existing connection after the user re-authorised it. A consent that returns no
   * refresh token (Google without prompt=consent) keeps the old one if it is still alive at the same provider.
   */
  async reconnect(input: NewConnectionInput, options: ReconnectOptions = {}): Promise<ConnectionSummary> {
    assertConnectionName(input.name);
    return this.refresher.withLock(input.name, () => this.reconnectLocked(input, options));
  }

  private async reconnectLocked(
    input: NewConnectionInput,
    options: ReconnectOptions,
  ): Promise<ConnectionSummary> {
    const existing = await this.store.get(input.name);
    if (!existing) return this.addConnection(input);
    const account = accountChange(existing, input);
    if (account && !options.allowAccountChange) {
      // Nothing is written: the connection keeps serving the account it had, with its own refresh token.
      throw new TokenkeeperError(
        'account_mismatch',
        `"${input.name}" is connected to ${existing.provider} account ${account.from}, but the consent was given for account ${account.to}: nothing was changed; sign in as ${account.from}, or connect the other account under another name (\`tokenkeeper connect --force\` switches "${input.name}" to it)`,
      );
    }
    const oldStillValid =
      existing.provider === input.provider &&
      existing.clientId === input.clientId &&
      !needsHuman(existing.status);
    const keepsOldToken = input.tokens.refreshToken === undefined && oldStillValid;
    const tokens: TokenSet = keepsOldToken
      ? {
          ...input.tokens,
          refreshToken: existing.tokens.refreshToken,
          // The kept refresh token dies when it did before: the consent said nothing about it.
          refreshTokenExpiresAt: existing.tokens.refreshTokenExpiresAt,
          refreshTokenIssuedAt: existing.tokens.refreshTokenIssuedAt,
        }
      : input.tokens;
    assertRenewable(input, tokens);
    const saved = await this.store.update({
      ...activeWith(existing, tokens, this.clock.now()),
      provider: input.provider,
      grant: input.grant ?? 'refresh_token',
      clientId: input.clientId,
      clientSecret: input.clientSecret,
    });
    return this.summarize(saved);
  }

  /** Removes a connection; with `revoke`, first asks the provider to revoke its tokens (RFC 7009). */
  async remove(
    name: string,
    options: { revoke?: boolean } = {},
  ): Promise<{ removed: boolean; revoked: boolean }> {
    // Under the lock: a refresh rotating the token meanwhile would leave the new one alive after a revoke.
    return this.refresher.withLock(name, () => this.removeLocked(name, options));
  }

  private async removeLocked(
    name: string,
    options: { revoke?: boolean },
  ): Promise<{ removed: boolean; revoked: boolean }> {
    const connection = await this.store.get(name);
    if (!connection) throw new TokenkeeperError('not_found', `no connection named "${name}"`);
    const revoked = options.revoke ? await this.revokeGrant(connection) : false;
    return { removed: await this.store.delete(name), revoked };
  }

  /**
   * Revokes a connection's grant at its own provider with its own client (RFC 7009); false when it holds no
   * token to revoke. Its tokens and client secret never go anywhere else.
   */
  private async revokeGrant(connection: Connection): Promise<boolean> {
    const token = connection.tokens.refreshToken ?? connection.tokens.accessToken;
    if (!token) return false;
    await revokeToken({
      provider: this.providers.get(connection.provider),
      clientId: connection.clientId,
      clientSecret: connection.clientSecret,
      token,
      timeoutMs: this.settings.http.timeoutMs,
    });
    return true;
  }

  /**
   * Moves an existing connection's name to a new grant at another provider (a retired provider's successor):
   * one compare-and-swap write under the connection's lock puts the new provider, client and tokens in place,
   * so API keys scoped to the name keep working. Only after that save is the old grant revoked, at the old
   * provider with the old client; a revoke that fails does not undo the replacement (`revoked: false`).
   */
  async replace(input: NewConnectionInput): Promise<ReplacedConnection> {
    assertConnectionName(input.name);
    this.providers.get(input.provider);
    assertRenewable(input, input.tokens);
    const { previous, saved } = await this.refresher.withLock(input.name, () => this.replaceLocked(input));
    let revoked = false;
    let revokeError: string | undefined;
    try {
      revoked = await this.revokeGrant(previous);
      if (!revoked) revokeError = 'the old connection held no token to revoke';
    } catch (error) {
      revokeError = describeError(error);
    }
    const where = { connection: saved.name, provider: saved.provider, previousProvider: previous.provider };
    if (revokeError) this.logger.warn({ ...where, error: revokeError }, 'the old grant could not be revoked');
    this.logger.info({ ...where, revoked }, 'replaced');
    this.emit({
      type: 'replaced',
      name: saved.name,
      provider: saved.provider,
      previousProvider: previous.provider,
      revoked,
    });
    return {
      summary: this.summarize(saved),
      previousProvider: previous.provider,
      revoked,
      ...(revokeError !== undefined && { revokeError }),
    };
  }

  private async replaceLocked(
    input: NewConnectionInput,
  ): Promise<{ previous: Connection; saved: Connection }> {
    // Newer tokens of the old grant waiting in the rescue journal go in first: they are the ones to revoke. While
    // they cannot be saved (or the journal read), nothing is replaced: moving the name would leave the newest old
    // token alive and forgotten (a later replay discards it as superseded) while `revoked` claimed the grant
    // gone. Refusing costs a new consent once the journal is back; the other way a live grant escapes.
    let left: string | undefined;
    try {
      left = await this.refresher.settleRescued(input.name);
    } catch (error) {
      left = `which cannot be read now (${describeError(error)})`;
    }
    if (left) {
      throw new TokenkeeperError(
        'store',
        `the newest tokens of "${input.name}" at its current provider may be waiting in the rescue journal ${left}: nothing was replaced, since its grant could not be revoked for sure; run the replace again once the journal is readable and the store accepts writes`,
      );
    }
    const previous = await this.store.get(input.name);
    if (!previous) {
      throw new TokenkeeperError(
        'not_found',
        `no connection named "${input.name}" to replace; nothing was saved`,
        {
          hint: { action: 'list_connections' },
        },
      );
    }
    assertReplaceable(previous, input.provider);
    const saved = await this.store.update({
      ...activeWith(previous, input.tokens, this.clock.now()),
      provider: input.provider,
      grant: input.grant ?? 'refresh_token',
      clientId: input.clientId,
      clientSecret: input.clientSecret,
    });
    return { previous, saved };
  }

  /** Replays token sets left in the rescue journal by an earlier run whose store write failed. */
  replayRescued(): Promise<number> {
    return this.refresher.replayRescued();
  }

  /** Raw connections for the scheduler (secrets included: internal use only). */
  async connectionsForScheduling(): Promise<Connection[]> {
    return this.store.list();
  }

  /** When the scheduler should refresh this connection next (epoch ms of the keeper's clock). */
  nextRefreshAt(connection: Connection): number {
    const seed = `${connection.name}:${connection.tokens.expiresAt ?? 0}`;
    return nextRefreshAt(connection, this.expiryPolicy(connection.provider), () => stableFraction(seed));
  }

  /**
   * The expiry policy of a provider's connections (due, keep-alive, default lifetime, refresh-token lifetime,
   * early-warning window): the one every decision about a connection's times uses.
   */
  expiryPolicy(providerId: string): ExpiryPolicy {
    return this.refresher.policyFor(providerId);
  }

  now(): number {
    return this.clock.now();
  }

  async close(): Promise<void> {
    await this.idle();
    this.tokenCache.clear();
    await this.store.close();
  }

  /** The provider that replaced a retired one, if the catalog names it. */
  private successorOf(providerId: string): string | undefined {
    return successorOf(this.providers, providerId);
  }

  summarize(connection: Connection): ConnectionSummary {
    const nextRefresh = this.nextRefreshAt(connection);
    return {
      name: connection.name,
      provider: connection.provider,
      account: connection.tokens.providerUserId,
      status: connection.status,
      scope: connection.tokens.scope,
      expiresAt: connection.tokens.expiresAt,
      refreshTokenExpiresAt: connection.tokens.refreshTokenExpiresAt,
      ...expiringOf(openNotices(this.expiryNotices(connection, nextRefresh), this.clock.now())),
      successor: connection.status === 'provider_retired' ? this.successorOf(connection.provider) : undefined,
      lastRefreshAt: connection.lastRefreshAt,
      nextRefreshAt: needsHuman(connection.status) ? undefined : nextRefresh,
      lastError: connection.lastError,
      lastErrorAt: connection.lastErrorAt,
      failureCount: connection.failureCount,
      refreshInProgress: connection.pending !== undefined,
      createdAt: connection.createdAt,
    };
  }

  /**
   * What of this connection dies at a known time (its refresh token; the provider's configured client secret when
   * the connection uses it), each with the moment its warning window opens: the one rule behind `expiring_soon`
   * events and summaries' `expiringSoon`. None for a connection that needs a human.
   */
  expiryNotices(connection: Connection, nextRefresh = this.nextRefreshAt(connection)): ExpiryNotice[] {
    return expiryNotices(connection, {
      policy: this.expiryPolicy(connection.provider),
      clientSecretExpiresAt: this.clientSecretExpiryOf(connection),
      rotation: this.rotationOf(connection),
      nextRefreshAt: nextRefresh,
    });
  }

  /** How the connection's provider treats its refresh tokens (public clients may differ), if it is configured. */
  private rotationOf(connection: Connection): RotationRule | undefined {
    try {
      const provider = this.providers.get(connection.provider);
      return connection.clientSecret === undefined
        ? (provider.publicClientRotation ?? provider.rotation)
        : provider.rotation;
    } catch {
      return undefined;
    }
  }

  /**
   * Raises `expiring_soon` for every open notice of these connections that `announced` has not seen (and records
   * it there); returns the events raised. Schedulers call it on each check; the event ids dedupe across processes.
   */
  announceExpiring(connections: Iterable<Connection>, announced: AnnouncedNotices): ExpiringSoonEvent[] {
    return this.checkExpiring(connections, announced).raised;
  }

  /**
   * `announceExpiring`, also saying when the next warning window of these connections opens (a scheduler wakes
   * then): one look at each connection's notices for both.
   */
  checkExpiring(
    connections: Iterable<Connection>,
    announced: AnnouncedNotices,
  ): { raised: ExpiringSoonEvent[]; nextWarningAt?: number } {
    const now = this.clock.now();
    const raised: ExpiringSoonEvent[] = [];
    let next: number | undefined;
    for (const connection of connections) {
      const nextRefresh = this.nextRefreshAt(connection);
      const notices = this.expiryNotices(connection, nextRefresh);
      const opens = nextWarningAt(notices, now);
      if (opens !== undefined && (next === undefined || opens < next)) next = opens;
      // One due for a refresh is left to it: the refresh may renew the refresh token (a rule renewed by use).
      if (nextRefresh <= now) continue;
      const events = openNotices(notices, now).map((notice) => expiringSoonEvent(connection, notice));
      const fresh = new Set(
        announced.fresh(
          connection.name,
          events.map((event) => event.eventId),
        ),
      );
      for (const event of events) {
        if (!fresh.has(event.eventId)) continue;
        raised.push(event);
        this.emit(event);
      }
    }
    return { raised, ...(next !== undefined && { nextWarningAt: next }) };
  }

  /**
   * The connections that may have an open notice now: those whose refresh token dies within the widest warning
   * window, and those of providers whose client secret does, through the store's index when it has one (a fleet's
   * sweep on a big store), else all of them.
   */
  async connectionsNearExpiry(): Promise<Connection[]> {
    if (!this.store.expiringBefore) return this.store.list();
    const providers = this.providers.list();
    const horizon = this.clock.now() + widestExpiringSoonMs(providers.map(({ id }) => this.expiryPolicy(id)));
    const secretsExpiring = providers.flatMap(({ id, clientSecretExpiresAt }) =>
      clientSecretExpiresAt !== undefined && clientSecretExpiresAt <= horizon ? [id] : [],
    );
    return this.store.expiringBefore(horizon, secretsExpiring);
  }

  /**
   * The configured client secret's expiry, for a connection that uses that secret: one with a secret and the
   * configured client id (a secret belongs to its client), or any with a secret when no client id is configured
   * (the Functions app reads its clients from the vault).
   */
  private clientSecretExpiryOf(connection: Connection): number | undefined {
    let expiresAt: number | undefined;
    try {
      expiresAt = this.providers.get(connection.provider).clientSecretExpiresAt;
    } catch {
      return undefined; // a provider no longer configured: its connections fail with the reason on refresh
    }
    if (expiresAt === undefined || connection.clientSecret === undefined) return undefined;
    const configuredId = this.providers.clientSettings(connection.provider).clientId;
    return configuredId === undefined || configuredId === connection.clientId ? expiresAt : undefined;
  }
}

/**
 * A summary's expiry warning from a connection's open notices: whether any is open, and the one that dies first
 * (what to act on: the refresh token, or the client secret).
 */
function expiringOf(open: readonly ExpiryNotice[]): Pick<ConnectionSummary, 'expiringSoon' | 'expiring'> {
  let first: ExpiryNotice | undefined;
  for (const notice of open) if (!first || notice.expiresAt < first.expiresAt) first = notice;
  return {
    expiringSoon: first !== undefined,
    ...(first && { expiring: { what: first.what, at: first.expiresAt } }),
  };
}

/** The promise's value if it settles within `ms`, else undefined (without keeping the process alive after). */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What `accessToken` returns for a stored token set that it has checked is usable. */
function tokenDetails(tokens: TokenSet): AccessTokenDetails {
  return {
    accessToken: tokens.accessToken as string,
    tokenType: tokens.tokenType,
    expiresAt: tokens.expiresAt,
    scope: tokens.scope,
  };
}

/** The accounts, when a reconnect would switch a connection to another account of the same provider. */
export function accountChange(
  existing: Connection,
  input: NewConnectionInput,
): { from: string; to: string } | undefined {
  const from = existing.tokens.providerUserId;
  const to = input.tokens.providerUserId;
  if (existing.provider !== input.provider || !from || !to || from === to) return undefined;
  return { from, to };
}

/**
 * `replace` moves a name to another provider. At the same provider that is a reconnect (which keeps a refresh
 * token the consent did not repeat and checks the account), so it is refused there.
 */
export function assertReplaceable(existing: Pick<Connection, 'name' | 'provider'>, provider: string): void {
  if (existing.provider !== provider) return;
  throw new TokenkeeperError(
    'usage',
    `"${existing.name}" is already connected to ${provider}: replacing moves a connection to another provider`,
    { hint: { action: 'reconnect', connection: existing.name, provider } },
  );
}

function assertRenewable(input: NewConnectionInput, tokens: TokenSet): void {
  if (!tokens.refreshToken && input.grant !== 'client_credentials') {
    throw new TokenkeeperError(
      'needs_reauth',
      `provider ${input.provider} issued no refresh token for "${input.name}": check the app's offline-access settings (e.g. an offline scope) and connect again`,
    );
  }
}

/** The engine's refresh settings (milliseconds) from the resolved `refresh` settings (seconds). */
export function refreshSettingsFrom(refresh: Settings['refresh']): RefreshSettings {
  const expiry: ExpiryPolicy = {
    ...defaultExpiryPolicy,
    marginMs: refresh.marginSeconds * 1000,
    marginRatio: refresh.marginRatio,
    defaultLifetimeMs: refresh.defaultLifetimeSeconds * 1000,
    ...(refresh.expiringSoonDays !== undefined && { expiringSoonMs: refresh.expiringSoonDays * DAY_MS }),
  };
  return {
    expiry,
    lock: { ttlMs: refresh.lockTtlSeconds * 1000, waitMs: refresh.lockWaitSeconds * 1000 },
    maxAttempts: refresh.maxAttempts,
    backoff: defaultBackoff,
    maxInlineWaitMs: 30_000,
    saveRetryMs: refresh.saveRetrySeconds * 1000,
    http: { timeoutMs: refresh.timeoutSeconds * 1000, maxBodyBytes: refresh.maxResponseBytes },
  };
}

/** Opens the keeper: config, key, store, rescue journal (replayed at once), providers. */
export async function createKeeper(options: KeeperOptions = {}): Promise<Keeper> {
  const env = options.env ?? process.env;
  const loaded = options.resolved ?? resolveSettings({ config: options.config, store: options.store, env });
  const providers = createProviderRegistry(loaded.config.providers);
  // Whatever opening creates (data dir, key file, store file) is removed again if it fails: no half-writes.
  const created = new CreatedPaths();
  let keyring: Keyring;
  let localJournal: FileRescueJournal;
  let store: ConnectionStore;
  try {
    keyring = loadKeyring({ dataDir: loaded.dataDir, env, created });
    localJournal = new FileRescueJournal(join(loaded.dataDir, 'rescue'), keyring);
    store =
      options.connectionStore ??
      (await openStore(loaded.store, {
        keyring,
        dataDir: loaded.dataDir,
        env,
        created,
        azureCredential: options.azureCredential,
        keyVault: loaded.config.keyVault,
      }));
  } catch (error) {
    created.undo();
    throw error;
  }
  // A store with shared durable storage (Key Vault: blob storage) keeps the journal every process sees; entries
  // an earlier version left in the data dir are still read and replayed from there.
  const sharedJournal = store.openRescueJournal?.(keyring);
  const journal: RescueJournal = sharedJournal
    ? new SharedRescueJournal(sharedJournal, localJournal)
    : localJournal;
  const keeper = new Keeper({
    loaded,
    providers,
    store,
    journal,
    settings: refreshSettingsFrom(loaded.refresh),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger,
  });
  if (options.onEvent) keeper.onEvent(options.onEvent);
  // Stores that index the next refresh time (PostgreSQL) compute it with this keeper's margins and jitter.
  store.setRefreshPlanner?.((connection) => keeper.nextRefreshAt(connection));
  try {
    await keeper.replayRescued();
  } catch (error) {
    await keeper.close();
    throw error;
  }
  return keeper;
}
