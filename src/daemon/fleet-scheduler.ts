import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { describeError } from '../core/errors.ts';
import { AnnouncedNotices } from '../keeper/expiry-notices.ts';
import type { Keeper } from '../keeper/keeper.ts';
import type { Claim, FleetMember, ProviderRateLimit } from '../stores/store.ts';
import type { SchedulerOptions, SchedulerStats } from './scheduler-options.ts';

export interface FleetOptions extends SchedulerOptions {
  rateLimits: readonly ProviderRateLimit[];
  /** Pause before a connection whose refresh failed without recording a retry time is tried again (ms). */
  minRetryMs?: number;
  /** How often the worker looks for connections in their warning window (ms; at start too). Default 10 min. */
  expirySweepMs?: number;
}

const DEFAULT_EXPIRY_SWEEP_MS = 10 * 60_000;

/**
 * The daemon loop of a worker in a fleet sharing one store: instead of listing every connection, it claims due
 * ones (up to twice its concurrency, claiming more while half a round is still queued, so a slot that frees up
 * starts the next refresh without a round trip), refreshes at most `concurrency` at once, and hands each claim
 * back with its next due time, beside the next refreshes (the store batches the hand-backs). Claims of workers
 * that die go back to the others. A worker sees only what it claims, so every `expirySweepMs` (and at start) it
 * also reads the connections near expiry and raises `expiring_soon` for those in their window: every worker may
 * raise the same one, and its deterministic id has it delivered once. On abort it starts nothing new, finishes
 * in-flight refreshes, returns unstarted claims and leaves the fleet.
 */
export async function runFleetScheduler(
  keeper: Keeper,
  joinFleet: (owner: string) => Promise<FleetMember>,
  options: FleetOptions,
): Promise<SchedulerStats> {
  const { signal, logger, concurrency } = options;
  const minRetryMs = options.minRetryMs ?? 1_000;
  const member = await joinFleet(`${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`);
  const stats: SchedulerStats = { refreshed: 0, failed: 0 };
  const queue: Claim[] = [];
  const running = new Map<string, Promise<void>>();
  // Refreshes that finished and are handing their claim back (awaited before leaving the fleet).
  const releasing = new Set<Promise<void>>();
  // Releases that failed (store briefly unreachable) are retried, or the claim would stay ours until we leave.
  const unreleased: Array<{ claim: Claim; notBefore?: number }> = [];
  const refillBelow = Math.ceil(concurrency / 2);
  let wake: () => void = () => undefined;
  // Set by a finished refresh; a wake-up that comes while the loop is busy (not sleeping) must not be lost.
  let woken: boolean;
  logger.info({ owner: member.owner, concurrency }, 'joined the worker fleet');

  const sweepMs = options.expirySweepMs ?? DEFAULT_EXPIRY_SWEEP_MS;
  const announced = new AnnouncedNotices();
  let nextSweepAt = keeper.now();
  let sweeping: Promise<void> | undefined;
  // Off the claim loop: reading the connections near expiry must not hold up due refreshes.
  const sweepIfDue = () => {
    if (sweeping || keeper.now() < nextSweepAt) return;
    nextSweepAt = keeper.now() + sweepMs;
    sweeping = keeper
      .connectionsNearExpiry()
      .then((connections) => void keeper.announceExpiring(connections, announced))
      .catch((error: unknown) =>
        logger.warn({ error: describeError(error) }, 'cannot look for expiring connections; will retry'),
      )
      .finally(() => (sweeping = undefined));
  };

  const release = async (claim: Claim, notBefore?: number) => {
    try {
      await member.release(claim, { notBefore });
    } catch (error) {
      unreleased.push({ claim, notBefore });
      logger.warn(
        { connection: claim.name, error: describeError(error) },
        'cannot release claim; will retry',
      );
    }
  };

  // Together, so the store writes them in one batch.
  const releaseAll = (pending: Array<{ claim: Claim; notBefore?: number }>) =>
    Promise.all(pending.map(({ claim, notBefore }) => release(claim, notBefore)));

  // The hand-back runs beside the next refreshes: a slot never waits for its previous claim's release.
  const handBack = (claim: Claim, notBefore?: number) => {
    const released: Promise<void> = release(claim, notBefore).finally(() => releasing.delete(released));
    releasing.add(released);
  };

  // Starts queued claims while slots are free. Every finished refresh calls it too, so a freed slot takes the next
  // claim at once, even while the loop is waiting for the store to answer a claim.
  const startQueued = () => {
    while (running.size < concurrency && queue.length > 0 && !signal.aborted) start(queue.shift() as Claim);
  };

  const start = (claim: Claim) => {
    const { name } = claim;
    const work = keeper
      .refresh(name)
      .then(
        (summary) => {
          stats.refreshed++;
          return summary.nextRefreshAt;
        },
        async (error: unknown) => {
          stats.failed++;
          logger.warn({ connection: name, error: describeError(error) }, 'scheduled refresh failed');
          const after = await keeper.get(name).catch(() => undefined);
          return Math.max(after?.nextRefreshAt ?? 0, keeper.now() + minRetryMs);
        },
      )
      .then((notBefore) => {
        // Off the running list before the release, so a claim that returns it is never mistaken for in-flight.
        running.delete(name);
        handBack(claim, notBefore);
      })
      .finally(() => {
        running.delete(name);
        startQueued();
        woken = true;
        wake();
      });
    running.set(name, work);
  };

  try {
    while (!signal.aborted) {
      sweepIfDue();
      let sleepUntil = Math.min(keeper.now() + Math.min(options.maxSleepMs, member.recheckMs), nextSweepAt);
      woken = false;
      try {
        await releaseAll(unreleased.splice(0));
        startQueued();
        let exhausted = false;
        // Refilled while half a round of claims is still queued, so the slots never run dry waiting for the store.
        if (queue.length < refillBelow) {
          const want = 2 * concurrency - queue.length - running.size;
          const { claimed, postponed } = await member.claimDue({
            now: keeper.now(),
            limit: want,
            rateLimits: options.rateLimits,
            requestsPerClaim: keeper.settings.maxAttempts,
          });
          queue.push(...claimed);
          startQueued();
          exhausted = claimed.length + postponed < want;
          if (!exhausted && claimed.length === 0) continue; // a batch of postponements: look again at once
        }
        if (exhausted && queue.length === 0 && running.size < concurrency) {
          const next = await member.nextDueAt();
          // Never spin: a due row we could not claim is being claimed by a peer right now.
          if (next !== undefined) sleepUntil = Math.min(sleepUntil, Math.max(next, keeper.now() + 25));
        } else if (running.size < concurrency && queue.length === 0) {
          continue;
        }
      } catch (error) {
        logger.error({ error: describeError(error) }, 'cannot claim connections from the store; retrying');
        sleepUntil = Math.min(sleepUntil, keeper.now() + 5_000);
      }
      if (!woken) await sleepOrWake(sleepUntil - keeper.now(), signal, (resolve) => (wake = resolve));
    }
  } finally {
    await sweeping;
    await Promise.all(running.values());
    await Promise.all(releasing);
    await releaseAll([...queue.splice(0).map((claim) => ({ claim })), ...unreleased.splice(0)]);
    await member
      .leave()
      .catch((error: unknown) =>
        logger.warn(
          { error: describeError(error) },
          'cannot leave the fleet cleanly; peers take over after the TTL',
        ),
      );
  }
  return stats;
}

function sleepOrWake(ms: number, signal: AbortSignal, setWake: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(10, ms));
    setWake(done);
    signal.addEventListener('abort', done, { once: true });
  });
}
