import { randomUUID } from 'node:crypto';
import { backoffDelay, type BackoffPolicy } from '../core/backoff.ts';
import { TokenEndpointError } from '../core/endpoint-error.ts';
import {
  describeError,
  isTokenkeeperError,
  seconds,
  TokenkeeperError,
  VersionConflictError,
  type ErrorHint,
} from '../core/errors.ts';
import type { KeeperEventListener } from '../core/events.ts';
import { isDue, type ExpiryPolicy } from '../core/expiry.ts';
import {
  backoffLeftMs,
  decideFailure,
  unknownOutcomeMaxWaitMs,
  type FailureDecision,
  type FailureSettings,
} from '../core/failure.ts';
import { sleep } from '../core/sleep.ts';
import { withStoreLock, type HeldLock, type LockOptions } from './lock.ts';
import { expiryPolicyFor } from './provider-expiry.ts';
import type { Logger } from '../core/logger.ts';
import {
  needsHuman,
  type Clock,
  type Connection,
  type ConnectionStatus,
  type HumanStatus,
  type PendingAttempt,
  type TokenSet,
} from '../core/types.ts';
import type { ConnectionStore } from '../stores/store.ts';
import type { RescueEntry, RescueJournal, RescueJournalContents } from '../stores/rescue-journal.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import { successorOf } from '../providers/registry.ts';
import type { TokenRequestOptions, TokenResponse } from '../oauth/token-client.ts';
import { tokenSetFromResponse } from '../oauth/token-set.ts';

/** How long new tokens that neither the store nor the rescue journal accepted are retried before giving up. */
const MEMORY_ONLY_RETRY_MS = 5 * 60_000;

export interface RefreshSettings {
  expiry: ExpiryPolicy;
  lock: LockOptions;
  /** Attempts inside one refresh call for failures worth retrying at once (5xx, timeouts, 429…). */
  maxAttempts: number;
  /** Backoff between those attempts and, across calls, before the scheduler tries a failing connection again. */
  backoff: BackoffPolicy;
  /** A retry inside one call is made only if its wait is at most this long; longer waits go to the scheduler. */
  maxInlineWaitMs: number;
  /** How long a failed store write of new tokens is retried before giving up to the rescue journal. */
  saveRetryMs: number;
  http: { timeoutMs: number; maxBodyBytes: number };
}

export interface RefresherDeps {
  store: ConnectionStore;
  journal: RescueJournal;
  provider: (id: string) => ProviderDefinition;
  requestToken: (options: TokenRequestOptions) => Promise<TokenResponse>;
  clock: Clock;
  logger: Logger;
  emit: KeeperEventListener;
  /** Unique per keeper instance; recorded as the lock owner and in write-ahead records. */
  owner: string;
  settings: RefreshSettings;
}

export interface RefreshOptions {
  /** Refresh even if the access token is not due. Coalesces with a refresh that finished after the call began. */
  force?: boolean;
  /**
   * One total deadline for this call (ms): the wait for the lock, every request to the provider and the waits
   * between retries. Saving tokens the provider issued is never cut short. Default: no deadline.
   */
  timeoutMs?: number;
  /** At most this many requests to the provider in this call. Default: settings.maxAttempts. */
  maxAttempts?: number;
}

/** What a refresh call did: the connection afterwards, and whether its tokens were renewed meanwhile. */
export interface RefreshResult {
  connection: Connection;
  /** False when nothing was due (or forced): the tokens are the ones that were stored. */
  refreshed: boolean;
}

/** The limits of one refresh call, resolved from its options. */
interface Budget {
  /** performance.now() by which the call gives up; undefined: no deadline. */
  deadline?: number;
  timeoutMs?: number;
  maxAttempts: number;
}

function remainingMs(budget: Budget): number {
  return budget.deadline === undefined ? Infinity : budget.deadline - performance.now();
}

/**
 * The refresh of design.md, steps 1–7: decide due; single-flight in process; store lock; re-read; write-ahead;
 * call the token endpoint; save durably (rescue journal if the store fails); classify failures.
 */
export class Refresher {
  private readonly deps: RefresherDeps;
  private readonly inFlight = new Map<string, { work: Promise<RefreshResult>; force: boolean }>();

  constructor(deps: RefresherDeps) {
    this.deps = deps;
  }

  /** Returns the connection with a fresh token set, refreshing only when due (or forced). */
  async refresh(name: string, options: RefreshOptions = {}): Promise<Connection> {
    return (await this.refreshReporting(name, options)).connection;
  }

  /** `refresh`, also saying whether the tokens were renewed or nothing was due. */
  refreshReporting(name: string, options: RefreshOptions = {}): Promise<RefreshResult> {
    const force = options.force ?? false;
    const running = this.inFlight.get(name);
    // Join a refresh already under way, unless this one is forced and that one may decide not to refresh.
    if (running && (running.force || !force)) return running.work;
    const previous = running?.work.catch(() => undefined) ?? Promise.resolve();
    const budget: Budget = {
      timeoutMs: options.timeoutMs,
      maxAttempts: options.maxAttempts ?? this.deps.settings.maxAttempts,
    };
    const work = previous
      .then(() => {
        // The deadline counts from when this call may start, not while it queues behind another.
        if (budget.timeoutMs !== undefined) budget.deadline = performance.now() + budget.timeoutMs;
        return this.refreshOnce(name, force, budget);
      })
      .catch((error: unknown) => {
        if (isTokenkeeperError(error, 'store')) {
          this.deps.emit({ type: 'store_error', name, error: describeError(error) });
        }
        throw error;
      })
      .finally(() => {
        if (this.inFlight.get(name)?.work === work) this.inFlight.delete(name);
      });
    this.inFlight.set(name, { work, force });
    return work;
  }

  /** The stored connection, failing as a refresh would if it is unknown or needs a human. */
  async current(name: string): Promise<Connection> {
    const connection = await this.load(name);
    this.assertRefreshable(connection);
    return connection;
  }

  /** True when newer tokens of this connection wait in the rescue journal (the stored ones may be revoked). */
  async hasRescued(name: string): Promise<boolean> {
    try {
      return !isEmpty(await this.deps.journal.read(name));
    } catch (error) {
      // A shared journal out of reach (blob storage down) does not stop serving a stored token; refreshes still
      // check the journal under the lock and refuse to spend a refresh token without it.
      this.deps.logger.warn(
        { connection: name, error: describeError(error) },
        'cannot read the rescue journal; serving the stored token',
      );
      return false;
    }
  }

  /** Runs `work` holding this connection's store lock, so no refresh runs at the same time (reconnect, remove). */
  withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
    return withStoreLock(this.deps.store, name, this.deps.owner, this.deps.settings.lock, () => work());
  }

  /** Replays rescued token sets into the store. Returns how many entries were applied or found already saved. */
  async replayRescued(name?: string): Promise<number> {
    return this.replay(await this.deps.journal.read(name));
  }

  private async replay({ entries, unreadable }: RescueJournalContents): Promise<number> {
    const { logger } = this.deps;
    for (const path of unreadable) {
      logger.error(
        { path },
        'rescue journal entry cannot be decrypted with the loaded key; kept for manual recovery',
      );
    }
    let settled = 0;
    for (const entry of entries) {
      try {
        await this.applyRescued(entry);
        await this.removeJournalEntry(entry.path);
        settled++;
      } catch (error) {
        logger.warn(
          { connection: entry.name, error: describeError(error) },
          'rescued tokens not yet saved; will retry',
        );
      }
    }
    return settled;
  }

  private async refreshOnce(name: string, force: boolean, budget: Budget): Promise<RefreshResult> {
    const { store, clock, settings } = this.deps;
    const current = await this.load(name);
    this.assertRefreshable(current, force);
    if (!force && !current.pending && !isDue(current.tokens, clock.now(), this.policyFor(current.provider))) {
      return { connection: current, refreshed: false };
    }
    const backoffLeft = backoffLeftMs(current, clock.now());
    if (!force && !current.pending && backoffLeft > 0) {
      // Honour the backoff (and the provider's Retry-After) across calls, not only inside one. An attempt with an
      // unknown outcome (pending) is exempt: it must be retried at once, inside the provider's grace window.
      throw new TokenkeeperError(
        'provider_unavailable',
        `refresh of "${name}" is backing off after: ${current.lastError ?? 'an error'}; next attempt in ${seconds(backoffLeft)} s (force to try now)`,
      );
    }

    const lockWaitMs = Math.max(0, Math.min(settings.lock.waitMs, remainingMs(budget)));
    // The stored state calls for a request: its write-ahead record goes with the lock, in one transaction, where
    // the store can. The store writes it only if the version is still current's, which is the re-read under the
    // lock (nothing changed, so current is still due, or forced, and nobody renewed it meanwhile).
    const writeAhead =
      renewable(current) && remainingMs(budget) > 0 ? this.writeAheadOf(current, current) : undefined;
    let locked = false;
    try {
      return await withStoreLock(
        store,
        name,
        this.deps.owner,
        { ...settings.lock, waitMs: lockWaitMs },
        async (lock) => {
          locked = true;
          this.deps.emit({
            type: 'lock_acquired',
            name,
            provider: current.provider,
            waitedMs: lock.waitedMs,
          });
          // Under the lock, so no other refresher of this connection can journal tokens between check and spend.
          // The common case, nothing rescued, costs one journal read (a blob listing for a shared journal).
          const { written } = lock;
          const waiting = await this.withdrawnOnFailure(written, current, () => this.deps.journal.read(name));
          if (written && isEmpty(waiting)) {
            return { connection: await this.refreshLocked(current, lock, budget, written), refreshed: true };
          }
          await this.withdrawnOnFailure(written, current, () => this.assertNothingRescued(name, waiting));
          const connection = await this.load(name);
          if (written && connection.version === written.version) {
            // The journal held only entries already saved or superseded: the write-ahead record stands.
            return { connection: await this.refreshLocked(current, lock, budget, written), refreshed: true };
          }
          this.assertRefreshable(connection, force);
          // Another refresher finished while this one waited for the lock.
          const renewedMeanwhile = connection.lastRefreshAt !== current.lastRefreshAt;
          if (!connection.pending) {
            if (!force && !isDue(connection.tokens, clock.now(), this.policyFor(connection.provider))) {
              return { connection, refreshed: renewedMeanwhile };
            }
            // A forced refresh is satisfied by one that another process completed while this one waited.
            if (force && renewedMeanwhile) return { connection, refreshed: true };
          }
          if (!renewable(connection)) {
            // E.g. a Key Vault whose RefreshToken secret was deleted while the state secret remained.
            throw await this.failWithoutRequest(
              connection,
              new TokenkeeperError('needs_reauth', `connection "${name}" has no refresh token`, {
                hint: reconnectHint(connection),
              }),
              budget,
            );
          }
          return { connection: await this.refreshLocked(connection, lock, budget), refreshed: true };
        },
        writeAhead,
      );
    } catch (error) {
      if (!locked && lockWaitMs < settings.lock.waitMs && isTokenkeeperError(error, 'lock_timeout')) {
        throw new TokenkeeperError(
          'timeout',
          `refresh of "${name}" timed out after ${seconds(budget.timeoutMs ?? 0)} s waiting for another refresher of this connection, which holds its lock; try again`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Runs a check that must pass before the write-ahead record `written` (taken with the lock) may be spent; if it
   * fails, the record is withdrawn first: no request was sent, so no attempt with an unknown outcome may be left
   * for crash recovery, and every token request, to chase.
   */
  private async withdrawnOnFailure<T>(
    written: Connection | undefined,
    before: Connection,
    check: () => Promise<T>,
  ): Promise<T> {
    try {
      return await check();
    } catch (error) {
      if (written) await this.withdrawWriteAhead(written, before);
      throw error;
    }
  }

  /** Puts back the status and pending record `before` had, over a write-ahead record whose token was not spent. */
  private async withdrawWriteAhead(written: Connection, before: Connection): Promise<void> {
    try {
      await this.deps.store.update({ ...written, status: before.status, pending: before.pending });
    } catch (error) {
      // Moved on: a replayed rescue entry replaced the record. Otherwise the store is down and the record stays;
      // the next refresh checks the journal again before it spends anything.
      if (error instanceof VersionConflictError) return;
      this.deps.logger.warn(
        { connection: written.name, error: describeError(error) },
        'cannot withdraw the write-ahead record of a refresh that sent nothing',
      );
    }
  }

  /** Refuses to spend the stored refresh token while a newer token set waits in the rescue journal. */
  private async assertNothingRescued(name: string, waiting: RescueJournalContents): Promise<void> {
    const left = await this.settle(name, waiting);
    if (left) {
      throw new TokenkeeperError(
        'store',
        `the newest tokens of "${name}" are waiting in the rescue journal ${left}; not refreshing, which would spend an outdated refresh token`,
      );
    }
  }

  /**
   * Replays this connection's rescued token sets into the store. Undefined when none is left; else where and why
   * some still wait (to quote after "waiting in the rescue journal"). Throws when the journal cannot be read.
   * Call it holding the connection's lock, so no refresher journals tokens meanwhile.
   */
  async settleRescued(name: string): Promise<string | undefined> {
    return this.settle(name, await this.deps.journal.read(name));
  }

  /** `settleRescued`, given what the journal held for the connection when read under its lock. */
  private async settle(name: string, waiting: RescueJournalContents): Promise<string | undefined> {
    if (isEmpty(waiting)) return undefined;
    await this.replay(waiting);
    const left = await this.deps.journal.read(name);
    if (isEmpty(left)) return undefined;
    return `(${this.deps.journal.location}) because the store refuses writes${left.unreadable.length > 0 ? ' or the entry cannot be decrypted with the loaded key' : ''}`;
  }

  /**
   * The write-ahead record of design step 3 for an attempt on `connection`: the refresh token about to be spent,
   * under a fresh attempt id. A retired connection stays retired while a person's forced refresh runs: a crash
   * then must not leave it to the scheduler's crash recovery (which would retry it for ever); its next forced
   * refresh recovers.
   */
  private writeAheadOf(connection: Connection, start: Connection): Connection {
    return {
      ...connection,
      status: start.status === 'provider_retired' ? 'provider_retired' : 'refreshing',
      // Client-credentials connections have no refresh token: nothing is spent, they just ask again.
      pending: {
        attemptId: randomUUID(),
        refreshToken: connection.tokens.refreshToken ?? '',
        startedAt: this.deps.clock.now(),
        owner: this.deps.owner,
      },
    };
  }

  /**
   * Steps 3–7 holding the lock. `written`: the first attempt's write-ahead record, already written with the lock.
   */
  private async refreshLocked(
    start: Connection,
    lock: HeldLock,
    budget: Budget,
    written?: Connection,
  ): Promise<Connection> {
    const { clock, settings, logger, emit } = this.deps;
    const provider = this.deps.provider(start.provider);
    const expiry = expiryPolicyFor(settings.expiry, provider);
    const recovering = start.pending !== undefined;
    // Whether the provider may already have spent the stored refresh token (an earlier attempt's outcome is
    // unknown): then a later passing failure keeps the write-ahead record even if that request never left.
    let outcomeUnknown = recovering;
    // The status observers last heard of: a status change is announced once, not on every failed attempt.
    let reported = start.status;
    let connection = start;
    for (let attempt = 1; ; attempt++) {
      if (lock.signal.aborted) throw lock.signal.reason;
      const left = remainingMs(budget);
      if (left <= 0) {
        // Nothing is sent (or written) once the deadline has passed: not even the record written with the lock.
        if (attempt === 1 && written) await this.withdrawWriteAhead(written, start);
        throw new TokenkeeperError(
          'timeout',
          `refresh of "${connection.name}" did not finish within ${seconds(budget.timeoutMs ?? 0)} s; it will be retried`,
        );
      }
      connection =
        attempt === 1 && written
          ? written
          : await this.deps.store.update(this.writeAheadOf(connection, start));
      const { attemptId, refreshToken: spent } = connection.pending as PendingAttempt;
      if (recovering && attempt === 1) {
        logger.warn(
          { connection: connection.name, provider: provider.id },
          'previous refresh did not finish; retrying the same refresh token at once to recover its result',
        );
      }
      let response: TokenResponse;
      try {
        response = await this.deps.requestToken({
          provider,
          clientId: connection.clientId,
          clientSecret: connection.clientSecret,
          params: renewalParams(connection, spent),
          timeoutMs: Math.max(1, Math.floor(Math.min(settings.http.timeoutMs, left))),
          maxBodyBytes: settings.http.maxBodyBytes,
          // Deliberately not aborted when the lock is lost: an answer the provider may already have rotated for
          // is still saved (through compare-and-swap or the rescue journal) rather than thrown away.
        });
      } catch (error) {
        const decision = decideFailure(
          error,
          connection,
          {
            number: attempt,
            maxAttempts: budget.maxAttempts,
            remainingMs: remainingMs(budget),
            outcomeUnknownBefore: outcomeUnknown,
            random: Math.random,
          },
          failureSettings(settings, provider.spentTokenGraceMs),
        );
        // A person's forced refresh at a retired provider: only a normal answer clears the state (issue 12), so a
        // passing failure leaves it retired, with no scheduled retry; invalid_grant still means needs_reauth.
        const stillRetired = start.status === 'provider_retired' && decision.status === 'failing';
        connection = await this.recordFailure(connection, decision, error, reported, attempt, stillRetired);
        reported = stillRetired ? 'provider_retired' : decision.status;
        if (decision.status !== 'failing') throw this.humanError(connection, decision.status, error);
        outcomeUnknown = decision.keepPending;
        const retriedNow = decision.action === 'retry_now';
        // needs_reauth and provider_retired are reported by their status change; failing attempts here.
        emit({
          type: 'refresh_failed',
          name: connection.name,
          provider: provider.id,
          error: describeError(error),
          attempt,
          ...(decision.action !== 'fix_first' &&
            (!stillRetired || retriedNow) && { retryInMs: decision.waitMs }),
        });
        if (stillRetired && !retriedNow)
          throw this.stillRetiredError(connection, error, decision.keepPending);
        if (decision.action === 'fix_first') throw error;
        if (decision.action === 'retry_later') {
          throw withRetryHint(error, connection.name, decision.waitMs, decision.keepPending);
        }
        await sleep(decision.waitMs, lock.signal);
        continue;
      }
      const now = clock.now();
      const tokens = tokenSetFromResponse(response, now, expiry, connection.tokens);
      // Failing before this call, or became failing during it (an attempt failed, then a retry worked).
      const wasUnhealthy = start.status === 'failing' || connection.failureCount > 0;
      const saved = await this.saveDurably(connection, tokens, spent, attemptId, lock);
      logger.info(
        {
          connection: saved.name,
          provider: provider.id,
          expiresAt: new Date(tokens.expiresAt ?? 0).toISOString(),
          attempt,
        },
        'refreshed',
      );
      emit({
        type: 'refreshed',
        name: saved.name,
        provider: provider.id,
        expiresAt: tokens.expiresAt ?? now,
        rotated: (tokens.refreshToken ?? '') !== spent,
        recovered: recovering,
      });
      // A crash-recovered attempt and a retired provider that answers again are named; other failures are 'failing'.
      const from =
        start.status === 'refreshing' || start.status === 'provider_retired'
          ? start.status
          : wasUnhealthy
            ? 'failing'
            : undefined;
      if (from) {
        emit({ type: 'status_changed', name: saved.name, provider: provider.id, from, to: 'active' });
      }
      return saved;
    }
  }

  /**
   * Design step 5: the new token set goes to the store before anything else. If the store refuses, the set goes
   * to the fsynced rescue journal first, then the store write is retried with backoff; if it still fails the
   * journal keeps it for the next start. A rotated refresh token is never only in memory.
   */
  private async saveDurably(
    connection: Connection,
    tokens: TokenSet,
    spent: string,
    attemptId: string,
    lock: HeldLock,
  ): Promise<Connection> {
    const { store, journal, settings, clock } = this.deps;
    const entry: RescueEntry = {
      name: connection.name,
      attemptId,
      spentRefreshToken: spent,
      tokens,
      writtenAt: clock.now(),
    };
    // A store whose write takes several slow round trips (Key Vault) gets the journal first, so a crash during
    // that write cannot lose the tokens; for the others the journal is the fallback when the write fails.
    let path = store.journalFirst ? await this.writeJournal(entry) : undefined;
    let firstError: unknown;
    try {
      const saved = await lock.updateAndRelease(activeWith(connection, tokens, clock.now()));
      if (path) await this.removeJournalEntry(path);
      return saved;
    } catch (error) {
      firstError = error;
    }
    path ??= await this.writeJournal(entry);
    if (path) {
      this.deps.emit({ type: 'rescued', name: entry.name, provider: connection.provider, journalPath: path });
      this.deps.logger.error(
        { connection: entry.name, error: describeError(firstError), journal: path },
        'store write of new tokens failed; tokens saved to the rescue journal, retrying the store',
      );
    }
    // Neither store nor journal took the tokens: they exist only in memory, so the store is retried for much
    // longer (holding the lock) rather than given up on.
    const deadline =
      Date.now() + (path ? settings.saveRetryMs : Math.max(settings.saveRetryMs, MEMORY_ONLY_RETRY_MS));
    for (let attempt = 1; ; attempt++) {
      let saved: Connection | undefined;
      try {
        saved = (await this.applyRescued(entry)) ?? (await this.load(connection.name));
      } catch (error) {
        const wait = backoffDelay(attempt, { baseMs: 200, maxMs: 5_000 });
        if (Date.now() + wait > deadline) {
          if (path) {
            throw new TokenkeeperError(
              'store',
              `store ${store.location} is not accepting writes (${describeError(error)}); the new tokens of "${connection.name}" are safe in the rescue journal and will be saved on the next run`,
              { cause: error },
            );
          }
          throw new TokenkeeperError(
            'store',
            `store ${store.location} and the rescue journal ${journal.location} both refuse writes (${describeError(error)}): the new tokens of "${connection.name}" could not be saved`,
            { cause: error, hint: { action: 'refresh_after_store_fix', connection: connection.name } },
          );
        }
        await sleep(wait);
        continue;
      }
      if (path) await this.removeJournalEntry(path);
      return saved;
    }
  }

  /** Writes a rescue entry; undefined (after logging loudly) when the journal refuses it too. */
  private async writeJournal(entry: RescueEntry): Promise<string | undefined> {
    try {
      return await this.deps.journal.write(entry);
    } catch (journalError) {
      this.deps.logger.error(
        { connection: entry.name, journalError: describeError(journalError) },
        'the rescue journal refused the new tokens; retrying the store',
      );
      return undefined;
    }
  }

  private async removeJournalEntry(path: string): Promise<void> {
    try {
      await this.deps.journal.remove(path);
    } catch (error) {
      // The tokens are in the store; a leftover entry is recognised as already saved when replayed.
      this.deps.logger.warn(
        { path, error: describeError(error) },
        'cannot delete an applied rescue journal entry',
      );
    }
  }

  /**
   * Puts a rescued token set into the store if the store still holds the token that was spent for it.
   * Returns undefined when there is nothing to apply (already saved, superseded, or connection removed).
   */
  private async applyRescued(entry: RescueEntry): Promise<Connection | undefined> {
    const { store, logger, emit, clock } = this.deps;
    for (;;) {
      const current = await store.get(entry.name);
      if (!current) return undefined;
      const stored = current.tokens;
      if (
        stored.accessToken === entry.tokens.accessToken &&
        stored.refreshToken === entry.tokens.refreshToken
      ) {
        return current;
      }
      // Client-credentials connections hold no refresh token and spend '' (see refreshLocked).
      const holdsSpent =
        (stored.refreshToken ?? '') === entry.spentRefreshToken ||
        // The refresh token made it but not the access token (a torn write in a store without transactions).
        (stored.refreshToken !== undefined && stored.refreshToken === entry.tokens.refreshToken);
      const newer = (stored.obtainedAt ?? 0) > (entry.tokens.obtainedAt ?? 0);
      if (!holdsSpent || newer) {
        logger.warn(
          { connection: entry.name },
          'rescued token set is older than the stored one; discarding it',
        );
        return undefined;
      }
      try {
        const saved = await store.update(activeWith(current, entry.tokens, clock.now()));
        emit({ type: 'rescue_applied', name: entry.name, provider: current.provider });
        return saved;
      } catch (error) {
        if (!(error instanceof VersionConflictError)) throw error;
      }
    }
  }

  /**
   * The one writer of failed state (design step 6): records what `decideFailure` decided and announces the
   * status change, if any, to `status_changed` listeners (webhooks, metrics, history).
   */
  private async recordFailure(
    connection: Connection,
    decision: FailureDecision,
    error: unknown,
    reported: ConnectionStatus,
    attempt: number,
    stillRetired = false,
  ): Promise<Connection> {
    const { clock, logger, emit } = this.deps;
    const now = clock.now();
    const status = stillRetired ? 'provider_retired' : decision.status;
    const retryInMs = status === 'failing' && decision.status === 'failing' ? decision.waitMs : undefined;
    const failing = retryInMs !== undefined;
    const failureCount = connection.failureCount + 1;
    const updated = await this.deps.store.update({
      ...connection,
      status,
      // The outcome is unknown (timeout, 5xx, cut connection): keep the write-ahead record so the next attempt,
      // by this or any process, retries the same refresh token at once. A connection left retired is retried
      // only by the next forced refresh, which sends that same token again because the record is there.
      pending: decision.status === 'failing' && decision.keepPending ? connection.pending : undefined,
      failureCount,
      lastError: describeError(error),
      lastErrorAt: now,
      nextAttemptAt: failing ? now + retryInMs : undefined,
    });
    const where = { connection: connection.name, provider: connection.provider };
    if (failing || stillRetired) {
      logger.warn(
        { ...where, attempt, failureCount, retryInMs, status, error: describeError(error) },
        'refresh failed',
      );
    } else {
      logger.error(
        { ...where, status: decision.status, error: describeError(error) },
        'refresh failed; the connection needs a human',
      );
    }
    if (status !== reported) {
      const successor = status === 'provider_retired' ? this.successorOf(connection.provider) : undefined;
      emit({
        type: 'status_changed',
        name: connection.name,
        provider: connection.provider,
        from: reported,
        to: status,
        error: describeError(error),
        ...(successor !== undefined && { successor }),
      });
    }
    return updated;
  }

  /** Records a failure found before any request was sent (e.g. no refresh token) and returns it to throw. */
  private async failWithoutRequest(
    connection: Connection,
    error: TokenkeeperError,
    budget: Budget,
  ): Promise<TokenkeeperError> {
    const grace = this.definitionOf(connection.provider)?.spentTokenGraceMs;
    const attempt = {
      number: 1,
      maxAttempts: budget.maxAttempts,
      remainingMs: remainingMs(budget),
      outcomeUnknownBefore: connection.pending !== undefined,
      random: Math.random,
    };
    const decision = decideFailure(error, connection, attempt, failureSettings(this.deps.settings, grace));
    await this.recordFailure(connection, decision, error, connection.status, 1);
    return error;
  }

  /** The error a refresh ends with when the connection now needs a human, with what would fix it. */
  private humanError(connection: Connection, status: HumanStatus, cause: unknown): TokenkeeperError {
    const { name } = connection;
    if (status === 'needs_reauth') {
      return new TokenkeeperError(
        'needs_reauth',
        `connection "${name}" needs re-authorisation: the provider rejected its refresh token`,
        { cause, hint: reconnectHint(connection) },
      );
    }
    return new TokenkeeperError('provider_retired', `connection "${name}": ${describeError(cause)}`, {
      cause,
      hint: reconnectHint(connection, this.successorOf(connection.provider)),
    });
  }

  /** The error a forced refresh at a retired provider ends with when the provider did not answer normally. */
  private stillRetiredError(connection: Connection, cause: unknown, pendingKept: boolean): TokenkeeperError {
    const { name, provider } = connection;
    const recover = pendingKept
      ? '; the provider may have renewed the tokens meanwhile: force a refresh again soon to recover them'
      : '';
    return new TokenkeeperError(
      'provider_retired',
      `connection "${name}" stays retired: the forced refresh at ${provider} failed (${describeError(cause)})${recover}`,
      { cause, hint: reconnectHint(connection, this.successorOf(provider)) },
    );
  }

  /**
   * Fails as a refresh would when the connection needs a human: no request could help it. A forced refresh (a
   * person asked) may try a retired provider again: if it answers normally the connection is active again.
   */
  private assertRefreshable(connection: Connection, force = false): void {
    if (!needsHuman(connection.status)) return;
    if (force && connection.status === 'provider_retired') return;
    const { name, provider, lastError } = connection;
    if (connection.status === 'needs_reauth') {
      throw new TokenkeeperError(
        'needs_reauth',
        `connection "${name}" needs re-authorisation (${lastError ?? 'refresh token rejected'})`,
        { hint: reconnectHint(connection) },
      );
    }
    throw new TokenkeeperError(
      'provider_retired',
      `connection "${name}": provider ${provider} is retired (${lastError ?? '410 Gone'})`,
      { hint: reconnectHint(connection, this.successorOf(provider)) },
    );
  }

  /** The expiry policy of a provider's connections (the global one if the provider is no longer configured). */
  policyFor(providerId: string): ExpiryPolicy {
    const provider = this.definitionOf(providerId);
    return provider ? expiryPolicyFor(this.deps.settings.expiry, provider) : this.deps.settings.expiry;
  }

  /** What replaces a retired provider, for the hint of a connection at it. */
  private successorOf(providerId: string): string | undefined {
    return successorOf({ get: this.deps.provider }, providerId);
  }

  /** The provider's definition for a fact about it, or undefined if it is no longer configured. */
  private definitionOf(providerId: string): ProviderDefinition | undefined {
    try {
      return this.deps.provider(providerId);
    } catch {
      // Not a reason to hide what happened to the connection: the fact is simply unknown.
      return undefined;
    }
  }

  private async load(name: string): Promise<Connection> {
    const connection = await this.deps.store.get(name);
    if (!connection) {
      throw new TokenkeeperError('not_found', `no connection named "${name}"`, {
        hint: { action: 'list_connections' },
      });
    }
    return connection;
  }
}

/** Whether a request can renew the connection: it holds a refresh token, or asks with client credentials. */
function renewable(connection: Connection): boolean {
  return Boolean(connection.tokens.refreshToken) || connection.grant === 'client_credentials';
}

function isEmpty({ entries, unreadable }: RescueJournalContents): boolean {
  return entries.length === 0 && unreadable.length === 0;
}

/** Failure settings at one provider: its spent-token grace window bounds how long an unknown outcome may wait. */
function failureSettings(settings: RefreshSettings, graceMs: number | undefined): FailureSettings {
  return {
    backoff: settings.backoff,
    maxInlineWaitMs: settings.maxInlineWaitMs,
    unknownOutcomeMaxWaitMs: unknownOutcomeMaxWaitMs(graceMs),
  };
}

/** A human must connect the account again: at its own provider, or at the one that replaced a retired one. */
function reconnectHint(connection: Connection, provider = connection.provider): ErrorHint {
  return {
    action: 'reconnect',
    connection: connection.name,
    provider,
    ...(provider !== connection.provider && { retiredProvider: connection.provider }),
  };
}

/**
 * The final error of a refresh that will be tried again, saying when. When the provider may have rotated the
 * refresh token, the same token must be retried inside the provider's grace window.
 */
function withRetryHint(error: unknown, name: string, retryInMs: number, pendingKept: boolean): unknown {
  if (!(error instanceof TokenEndpointError)) return error;
  return error.withHint({ action: 'retry', connection: name, retryInMs, sameRefreshToken: pendingKept });
}

/** The token request that renews a connection: its refresh token, or (client credentials) the same request again. */
function renewalParams(connection: Connection, refreshToken: string): Record<string, string> {
  if (connection.grant !== 'client_credentials') {
    return { grant_type: 'refresh_token', refresh_token: refreshToken };
  }
  const scope = connection.tokens.scope;
  return scope ? { grant_type: 'client_credentials', scope } : { grant_type: 'client_credentials' };
}

/** The connection after a successful renewal or re-authorisation: healthy, with `tokens`, nothing pending. */
export function activeWith(connection: Connection, tokens: TokenSet, now: number): Connection {
  return {
    ...connection,
    tokens,
    status: 'active',
    pending: undefined,
    failureCount: 0,
    lastError: undefined,
    lastErrorAt: undefined,
    nextAttemptAt: undefined,
    lastRefreshAt: now,
  };
}
