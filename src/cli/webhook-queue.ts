import { describeError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { webhookSettingsFrom } from '../webhooks/endpoints.ts';

export interface WebhookQueue {
  /** Stops listening and waits until what was raised is in the outbox. */
  close(): Promise<void>;
}

/**
 * Queues the webhook events a CLI command raises (`connect --replace`, a refresh that fails) in the store's
 * outbox, where the daemon finds and delivers them: the command's process ends too soon to deliver, let alone
 * retry. Nothing is queued without webhook endpoints or a store outbox. The webhook settings (their secret
 * references included) are read at the first event, so a command that raises none never needs them.
 */
export function queueWebhookEvents(keeper: Keeper, env: NodeJS.ProcessEnv, logger: Logger): WebhookQueue {
  const outbox = keeper.store.openOutbox?.();
  if (!outbox || (keeper.loaded.config.webhooks?.endpoints ?? []).length === 0) {
    return { close: async () => undefined };
  }
  let dispatcher: WebhookDispatcher | undefined;
  let unreadable = false;
  const unsubscribe = keeper.onEvent((event) => {
    if (unreadable) return;
    try {
      dispatcher ??= new WebhookDispatcher({
        ...webhookSettingsFrom(keeper.loaded.config, env),
        // Queue-only: it makes no attempt to record.
        log: { append: () => undefined },
        logger,
        outbox,
        queueOnly: true,
      });
    } catch (error) {
      unreadable = true;
      logger.warn(
        { event: event.type, error: describeError(error) },
        'webhooks of this command not queued: the webhook settings cannot be read here',
      );
      return;
    }
    dispatcher.handle(event);
  });
  return {
    async close() {
      unsubscribe();
      await dispatcher?.drain(0);
    },
  };
}
