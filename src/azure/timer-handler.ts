import type { InvocationContext, Timer } from '@azure/functions';
import { describeError, isTokenkeeperError } from '../core/errors.ts';
import { reconnectCommand, replaceCommand } from '../core/links.ts';
import { needsHuman } from '../core/types.ts';
import { AnnouncedNotices, type ExpiringSoonEvent } from '../keeper/expiry-notices.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { successorOf } from '../providers/registry.ts';
import type { FunctionAlerts } from './alerts.ts';
import { inInvocation } from './invocation-log.ts';
import { DEFAULT_TIMER_BUDGET_MS, TIMER_WEBHOOK_DRAIN_MS } from './limits.ts';

export { DEFAULT_TIMER_BUDGET_MS } from './limits.ts';

export interface TimerRunReport {
  refreshed: string[];
  notDue: string[];
  /** needs_reauth or provider_retired: a human has to reconnect these. */
  inactive: string[];
  failed: Array<{ name: string; error: string }>;
  /** Not started because the run's time budget was spent; the next run takes them. */
  deferred: string[];
  /** In their warning window (refresh token or client secret dies soon): a human should reconnect them. */
  expiring: string[];
}

export interface TimerHandlerOptions {
  /** Stop starting refreshes after this long (default DEFAULT_TIMER_BUDGET_MS, derived from functionTimeout). */
  budgetMs?: number;
  /** The instance's webhooks: settled before the invocation returns. */
  alerts?: FunctionAlerts;
}

/** Log and error texts are one line each: a multi-line error text would split an alert's message. */
const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, ' ');

/**
 * The timer function: replays rescued tokens, then asks the engine to refresh every active connection. The engine
 * decides "due" under the connection's lease after re-reading the vault, so instances, CLIs and daemons that run
 * at the same moment make one provider call between them.
 *
 * A run fails (context.error per connection, then a throw the host records as a failed invocation, which an Azure
 * Monitor alert rule watches) when a connection failed to refresh OR needs a human (needs_reauth,
 * provider_retired): a connection nobody reconnects keeps the alert firing on every run until it is fixed, while
 * its webhook went out once, on the status change. No secrets in any message.
 *
 * After the refreshes the run looks at every connection again and raises `expiring_soon` for those in their
 * warning window, with a warning line each; the alerts send each notice once across runs and instances (marker
 * blobs, see FunctionAlerts). An expiring connection still works, so it does not fail the run.
 */
export function createTimerHandler(getKeeper: () => Promise<Keeper>, options: TimerHandlerOptions = {}) {
  const budgetMs = options.budgetMs ?? DEFAULT_TIMER_BUDGET_MS;
  return async function tokenkeeperTimer(timer: Timer, context: InvocationContext): Promise<TimerRunReport> {
    return inInvocation(context, async () => {
      const started = Date.now();
      let report: TimerRunReport;
      try {
        report = await run(await startKeeper(getKeeper, context), timer, context, started, budgetMs);
      } finally {
        await options.alerts?.settle(context, TIMER_WEBHOOK_DRAIN_MS);
      }
      context.log(JSON.stringify({ message: 'tokenkeeper timer run', ...report }));
      const problems = [
        ...report.inactive.map((name) => `${name} needs a human`),
        ...report.failed.map((failure) => `${failure.name} failed: ${failure.error}`),
      ];
      if (problems.length > 0) {
        throw new Error(
          oneLine(`tokenkeeper: ${problems.length} connection(s) need attention: ${problems.join('; ')}`),
        );
      }
      return report;
    });
  };
}

async function startKeeper(getKeeper: () => Promise<Keeper>, context: InvocationContext): Promise<Keeper> {
  try {
    return await getKeeper();
  } catch (error) {
    context.error(oneLine(`tokenkeeper could not start: ${describeError(error)}`));
    throw error;
  }
}

async function run(
  keeper: Keeper,
  timer: Timer,
  context: InvocationContext,
  started: number,
  budgetMs: number,
): Promise<TimerRunReport> {
  if (timer.isPastDue) context.warn('timer is past due: the previous run was missed or late');
  await keeper.replayRescued();
  const report: TimerRunReport = {
    refreshed: [],
    notDue: [],
    inactive: [],
    failed: [],
    deferred: [],
    expiring: [],
  };
  const humanNeeded = (name: string, provider: string, status: string, successor?: string) => {
    report.inactive.push(name);
    context.error(
      `tokenkeeper: connection "${name}" is ${status}: ${successor ? `move it to ${successor}` : 'reconnect it'} (${successor ? replaceCommand(successor, name) : reconnectCommand(provider, name)} --store keyvault://…)`,
    );
  };
  for (const connection of await keeper.status()) {
    if (needsHuman(connection.status)) {
      humanNeeded(connection.name, connection.provider, connection.status, connection.successor);
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
      const code = isTokenkeeperError(error) ? error.code : undefined;
      if (code && needsHuman(code)) {
        const successor =
          code === 'provider_retired' ? successorOf(keeper.providers, connection.provider) : undefined;
        humanNeeded(connection.name, connection.provider, code, successor);
        continue;
      }
      const text = oneLine(describeError(error));
      report.failed.push({ name: connection.name, error: text });
      context.error(
        `tokenkeeper: connection "${connection.name}" failed to refresh: ${text} (the next run retries it)`,
      );
    }
  }
  await announceExpiring(keeper, report, context);
  return report;
}

/**
 * Raises `expiring_soon` for the connections in their warning window, as they are after this run's refreshes.
 * Nothing is remembered between runs here: whether a notice went out already is the alerts' marker to say, and
 * a notice whose delivery failed must be raised again.
 */
async function announceExpiring(keeper: Keeper, report: TimerRunReport, context: InvocationContext) {
  let events: ExpiringSoonEvent[];
  try {
    events = keeper.announceExpiring(await keeper.connectionsForScheduling(), new AnnouncedNotices());
  } catch (error) {
    context.warn(oneLine(`tokenkeeper: cannot check for expiring connections: ${describeError(error)}`));
    return;
  }
  for (const event of events) {
    if (!report.expiring.includes(event.name)) report.expiring.push(event.name);
    const at = new Date(event.expiresAt).toISOString();
    context.warn(
      event.what === 'refresh_token'
        ? `tokenkeeper: connection "${event.name}": its refresh token expires at ${at}: reconnect it (${reconnectCommand(event.provider, event.name)} --store keyvault://…)`
        : `tokenkeeper: connection "${event.name}": the ${event.provider} client secret it uses expires at ${at}: create a new one at the provider and store it (then update providers.${event.provider}.clientSecretExpiresAt)`,
    );
  }
}
