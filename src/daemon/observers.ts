import { describeError } from '../core/errors.ts';
import type { KeeperEvent, KeeperEventListener } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { RefreshHistory } from '../server/history.ts';
import { DaemonMetrics } from '../server/metrics.ts';
import { ReconnectFlows } from '../server/reconnect.ts';
import { DeliveryLog, deliveryLogPath } from '../webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { webhookSettingsFrom } from '../webhooks/endpoints.ts';
import { MemoryOutbox } from '../webhooks/memory-outbox.ts';

/**
 * With the store's outbox the daemon also looks this often for deliveries other processes queued after it last
 * looked: fleet peers, and CLI commands (`connect --replace`) that queue what they raise for the daemon.
 */
const WEBHOOK_POLL_MS = 10_000;

/** What watches the keeper's events while the daemon runs: metrics, refresh history and webhooks. */
export interface DaemonObservers {
  metrics: DaemonMetrics;
  history: RefreshHistory;
  dispatcher: WebhookDispatcher;
  /** The status page's reconnects; a reconnect is recorded in the history and may send `recovered`. */
  reconnects: ReconnectFlows;
  /** Stops listening to the keeper. */
  unsubscribe(): void;
}

/** A listener that never lets an exception reach the refresh engine. */
function guarded(listener: KeeperEventListener, logger: Logger, what: string): KeeperEventListener {
  return (event: KeeperEvent) => {
    try {
      listener(event);
    } catch (error) {
      logger.error({ event: event.type, error: describeError(error) }, `${what} failed to handle an event`);
    }
  };
}

export async function startObservers(
  keeper: Keeper,
  logger: Logger,
  env: NodeJS.ProcessEnv | undefined,
): Promise<DaemonObservers> {
  const metrics = new DaemonMetrics(keeper);
  const history = new RefreshHistory({ now: () => keeper.now() });
  const dispatcher = new WebhookDispatcher({
    ...webhookSettingsFrom(keeper.loaded.config, env),
    log: new DeliveryLog(deliveryLogPath(keeper.loaded.dataDir)),
    logger,
    onAttempt: (record) => metrics.webhookAttempt(record),
    // Pending deliveries live in the store when it has an outbox, so they survive restarts and crashes.
    ...(keeper.store.openOutbox
      ? { outbox: keeper.store.openOutbox(), pollMs: WEBHOOK_POLL_MS }
      : { outbox: new MemoryOutbox() }),
  });
  const subscriptions = [
    keeper.onEvent(guarded(metrics.handle, logger, 'metrics')),
    keeper.onEvent(guarded(history.handle, logger, 'refresh history')),
    keeper.onEvent(guarded(dispatcher.handle, logger, 'webhooks')),
  ];
  // A fleet worker sees only the connections it refreshes; reading (and decrypting) all of them is for one daemon.
  if (!keeper.store.joinFleet) history.seed(await keeper.status().catch(() => []));

  const reconnects = new ReconnectFlows(keeper, logger, env, (summary, previous) => {
    history.add(summary.name, { at: keeper.now(), kind: 'reconnected', expiresAt: summary.expiresAt });
    if (previous !== 'active') {
      dispatcher.send({
        type: 'recovered',
        connection: { name: summary.name, provider: summary.provider },
        status: 'active',
        previousStatus: previous,
        reason: 'reconnected',
      });
    }
  });
  return {
    metrics,
    history,
    dispatcher,
    reconnects,
    unsubscribe: () => subscriptions.forEach((off) => off()),
  };
}
