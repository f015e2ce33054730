import { randomUUID } from 'node:crypto';
import { backoffDelay } from '../core/backoff.ts';
import type { KeeperEvent } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import { sleep } from '../core/sleep.ts';
import { postWebhook, type AttemptResult } from './deliver.ts';
import type { DeliveryLog, DeliveryOutcome, DeliveryRecord } from './delivery-log.ts';
import type { RetryPolicy, WebhookEndpoint } from './endpoints.ts';
import { webhookEventFor, type WebhookEventBody, type WebhookPayload } from './events.ts';

export interface DispatcherOptions {
  endpoints: WebhookEndpoint[];
  retry: RetryPolicy;
  /** Where every attempt is recorded: the daemon's delivery log file, or (in Azure Functions) the invocation's log. */
  log: Pick<DeliveryLog, 'append'>;
  logger: Logger;
  /** Told about every attempt (metrics). */
  onAttempt?: (record: DeliveryRecord) => void;
}

/**
 * Sends webhooks for keeper events: each to every endpoint subscribed to its type, signed, retried with
 * exponential backoff and jitter (honouring Retry-After) until delivered, refused, or out of attempts. Every
 * attempt goes to the delivery log. Deliveries run in the background and never slow the refresh engine.
 */
export class WebhookDispatcher {
  private readonly options: DispatcherOptions;
  private readonly inFlight = new Set<Promise<void>>();
  /** Aborts the deliveries under way: for good on drain(), or those of one run on settle(). */
  private stopping = new AbortController();
  /** Connections with a `recovered` webhook queued in this tick: one recovery can raise two engine events. */
  private readonly recoveredThisTick = new Set<string>();

  constructor(options: DispatcherOptions) {
    this.options = options;
  }

  get endpointCount(): number {
    return this.options.endpoints.length;
  }

  /** A KeeperEventListener: pass to keeper.onEvent. */
  readonly handle = (event: KeeperEvent): void => {
    const body = webhookEventFor(event);
    if (!body) return;
    if (body.type === 'recovered') {
      if (this.recoveredThisTick.has(body.connection.name)) return;
      this.recoveredThisTick.add(body.connection.name);
      setImmediate(() => this.recoveredThisTick.delete(body.connection.name));
    }
    this.send(body);
  };

  /** Queues `body` to every subscribed endpoint; returns the event id. */
  send(body: WebhookEventBody): string {
    const { id, ...content } = body;
    const payload: WebhookPayload = {
      id: id ?? `evt_${randomUUID()}`,
      createdAt: new Date().toISOString(),
      ...content,
    };
    for (const endpoint of this.options.endpoints) {
      if (payload.type !== 'test' && !endpoint.events.has(payload.type)) continue;
      const work = this.deliver(endpoint, payload).finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
    }
    return payload.id;
  }

  /** Delivers `payload` to one endpoint with retries; resolves with the final outcome. */
  async deliver(endpoint: WebhookEndpoint, payload: WebhookPayload): Promise<void> {
    const { retry, logger } = this.options;
    // Captured: settle() abandons the deliveries under way at that moment, not those queued after it.
    const { signal } = this.stopping;
    for (let attempt = 1; ; attempt++) {
      const result = await postWebhook(endpoint, payload, { timeoutMs: retry.timeoutMs, signal });
      const stopped = signal.aborted;
      const final = result.ok || !result.retryable || attempt >= retry.maxAttempts || stopped;
      const waitMs = final
        ? undefined
        : backoffDelay(attempt, { baseMs: retry.baseMs, maxMs: retry.maxMs }, result.retryAfterMs);
      const outcome: DeliveryOutcome = result.ok
        ? 'delivered'
        : stopped
          ? 'abandoned'
          : final
            ? 'failed'
            : 'retrying';
      this.record(endpoint, payload, attempt, outcome, result, waitMs);
      if (outcome === 'failed' || outcome === 'abandoned') {
        logger.warn(
          {
            endpoint: endpoint.label,
            event: payload.type,
            connection: payload.connection.name,
            attempt,
            error: result.error,
          },
          `webhook ${outcome}`,
        );
      }
      if (waitMs === undefined) return;
      try {
        await sleep(waitMs, signal);
      } catch {
        this.record(endpoint, payload, attempt + 1, 'abandoned', {
          ok: false,
          error: typeof signal.reason === 'string' ? signal.reason : 'daemon stopping',
          retryable: false,
          durationMs: 0,
        });
        return;
      }
    }
  }

  /**
   * Waits up to `graceMs` for deliveries under way (retries included), then abandons the rest (each logged as
   * `abandoned`). For shutdown.
   */
  async drain(graceMs: number): Promise<void> {
    const all = Promise.all([...this.inFlight]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([all, deadline]);
    clearTimeout(timer);
    this.stopping.abort();
    await Promise.all([...this.inFlight]);
  }

  /**
   * Waits up to `graceMs` for the deliveries under way (retries included), then abandons those still going (each
   * recorded as `abandoned` with `reason`) and keeps accepting events. For a host that may freeze the process
   * once an invocation returns (Azure Functions). Resolves with how many deliveries were abandoned.
   */
  async settle(graceMs: number, reason: string): Promise<number> {
    const deadline = Date.now() + graceMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())));
      await Promise.race([Promise.all([...this.inFlight]), timeout]);
      clearTimeout(timer);
    }
    const left = [...this.inFlight];
    if (left.length === 0) return 0;
    const stopping = this.stopping;
    this.stopping = new AbortController();
    stopping.abort(reason);
    await Promise.all(left);
    return left.length;
  }

  private record(
    endpoint: WebhookEndpoint,
    payload: WebhookPayload,
    attempt: number,
    outcome: DeliveryOutcome,
    result: AttemptResult,
    nextAttemptInMs?: number,
  ): void {
    const record: DeliveryRecord = {
      at: new Date().toISOString(),
      eventId: payload.id,
      event: payload.type,
      connection: payload.connection.name,
      endpoint: endpoint.label,
      attempt,
      outcome,
      status: result.status,
      error: result.error,
      durationMs: result.durationMs,
      nextAttemptInMs: nextAttemptInMs === undefined ? undefined : Math.round(nextAttemptInMs),
    };
    this.options.log.append(record);
    this.options.onAttempt?.(record);
  }
}
