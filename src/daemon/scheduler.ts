import { describeError } from '../core/errors.ts';
import { needsHuman, type Connection } from '../core/types.ts';
import { AnnouncedNotices } from '../keeper/expiry-notices.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { runFleetScheduler } from './fleet-scheduler.ts';
import type { SchedulerOptions, SchedulerStats } from './scheduler-options.ts';

export type { SchedulerOptions, SchedulerStats };
import { rateLimitsFrom } from './rate-limits.ts';

/**
 * The daemon loop: refreshes every connection when it falls due (and at once if an earlier attempt was cut
 * off), at most `concurrency` at a time, and sleeps until the next due time or the next opening of a warning
 * window. Each tick raises `expiring_soon` for connections it leaves alone (a refresh may renew the refresh token;
 * the tick after it looks again), once per notice while it runs. When `signal` aborts it starts nothing new and
 * resolves after in-flight refreshes finish.
 */
export async function runScheduler(keeper: Keeper, options: SchedulerOptions): Promise<SchedulerStats> {
  const { store } = keeper;
  if (store.joinFleet) {
    // A store shared by a fleet (PostgreSQL): claim due connections instead of listing them all every tick.
    return runFleetScheduler(
      keeper,
      (owner) => (store.joinFleet as NonNullable<typeof store.joinFleet>).call(store, owner),
      {
        ...options,
        rateLimits: options.rateLimits ?? rateLimitsFrom(process.env),
      },
    );
  }
  const { signal, logger } = options;
  const running = new Map<string, Promise<void>>();
  // Failures the engine could not record on the connection (store refusing writes, tokens waiting in the rescue
  // journal) would otherwise be retried at once, in a hot loop: they back off here, 1 s doubling to 60 s.
  const localBackoff = new Map<string, { failures: number; until: number }>();
  const stats: SchedulerStats = { refreshed: 0, failed: 0 };
  const announced = new AnnouncedNotices();
  let wake: () => void = () => undefined;

  while (!signal.aborted) {
    let nextWake = keeper.now() + options.maxSleepMs;
    try {
      const connections = await keeper.connectionsForScheduling();
      const now = keeper.now();
      const untouched: Connection[] = [];
      for (const connection of connections) {
        if (needsHuman(connection.status) || running.has(connection.name)) continue;
        const dueAt = Math.max(
          keeper.nextRefreshAt(connection),
          localBackoff.get(connection.name)?.until ?? 0,
        );
        if (dueAt > now) {
          nextWake = Math.min(nextWake, dueAt);
          untouched.push(connection);
          continue;
        }
        if (running.size >= options.concurrency) continue;
        const name = connection.name;
        const work = keeper
          .refresh(name)
          .then(
            () => {
              stats.refreshed++;
              localBackoff.delete(name);
            },
            (error: unknown) => {
              stats.failed++;
              const failures = (localBackoff.get(name)?.failures ?? 0) + 1;
              const until = keeper.now() + Math.min(60_000, 1_000 * 2 ** (failures - 1));
              localBackoff.set(name, { failures, until });
              logger.warn({ connection: name, error: describeError(error) }, 'scheduled refresh failed');
            },
          )
          .finally(() => {
            running.delete(name);
            wake();
          });
        running.set(name, work);
      }
      nextWake = Math.min(nextWake, keeper.checkExpiring(untouched, announced).nextWarningAt ?? Infinity);
    } catch (error) {
      logger.error({ error: describeError(error) }, 'cannot read connections from the store; retrying');
      nextWake = Math.min(nextWake, keeper.now() + 5_000);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(10, nextWake - keeper.now()));
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
  await Promise.all(running.values());
  return stats;
}
