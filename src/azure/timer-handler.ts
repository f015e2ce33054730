import type { InvocationContext, Timer } from '@azure/functions';
import { describeError } from '../core/errors.ts';
import { needsHuman } from '../core/types.ts';
import type { Keeper } from '../keeper/keeper.ts';

export interface TimerRunReport {
  refreshed: string[];
  notDue: string[];
  /** needs_reauth or provider_retired: a human has to reconnect these. */
  inactive: string[];
  failed: Array<{ name: string; error: string }>;
  /** Not started because the run's time budget was spent; the next run takes them. */
  deferred: string[];
}

/** Stop starting refreshes after this long, well inside the Functions timeout (5 min by default on Consumption). */
export const DEFAULT_TIMER_BUDGET_MS = 4 * 60_000;

/**
 * The timer function: replays rescued tokens, then asks the engine to refresh every active connection. The engine
 * decides "due" under the connection's lease after re-reading the vault, so instances, CLIs and daemons that run
 * at the same moment make one provider call between them. Throws after the run if any connection failed, so the
 * Functions host records the failure (no secrets in the message).
 */
export function createTimerHandler(getKeeper: () => Promise<Keeper>, budgetMs = DEFAULT_TIMER_BUDGET_MS) {
  return async function tokenkeeperTimer(timer: Timer, context: InvocationContext): Promise<TimerRunReport> {
    const started = Date.now();
    const keeper = await getKeeper();
    if (timer.isPastDue) context.warn('timer is past due: the previous run was missed or late');
    await keeper.replayRescued();
    const report: TimerRunReport = { refreshed: [], notDue: [], inactive: [], failed: [], deferred: [] };
    for (const connection of await keeper.status()) {
      if (needsHuman(connection.status)) {
        report.inactive.push(connection.name);
        context.warn(
          `connection "${connection.name}" is ${connection.status}: reconnect it (tokenkeeper connect ${connection.provider} --name ${connection.name} --store keyvault://…)`,
        );
        continue;
      }
      // A run killed by the host's timeout mid-save would leave work for crash recovery: stop starting new ones.
      if (Date.now() - started > budgetMs) {
        report.deferred.push(connection.name);
        continue;
      }
      try {
        const after = await keeper.refresh(connection.name);
        if (after.lastRefreshAt !== connection.lastRefreshAt) report.refreshed.push(connection.name);
        else report.notDue.push(connection.name);
      } catch (error) {
        report.failed.push({ name: connection.name, error: describeError(error) });
      }
    }
    context.log(JSON.stringify({ message: 'tokenkeeper timer run', ...report }));
    if (report.failed.length > 0) {
      throw new Error(
        `tokenkeeper: ${report.failed.length} connection(s) failed to refresh: ${report.failed
          .map((failure) => `${failure.name}: ${failure.error}`)
          .join('; ')}`,
      );
    }
    return report;
  };
}
