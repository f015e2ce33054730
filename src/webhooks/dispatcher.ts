import { randomUUID } from 'node:crypto';
import { backoffDelay } from '../core/backoff.ts';
import { describeError } from '../core/errors.ts';
import type { KeeperEvent } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import type { DeliveryClaim, DeliveryOutbox, NewDelivery } from '../core/outbox.ts';
import { sleep } from '../core/sleep.ts';
import { postWebhook, type AttemptResult } from './deliver.ts';
import type { DeliveryLog, DeliveryOutcome, DeliveryRecord } from './delivery-log.ts';
import type { RetryPolicy, WebhookEndpoint } from './endpoints.ts';
import { webhookEventFor, type WebhookEventBody, type WebhookPayload } from './events.ts';
import { MemoryOutbox } from './memory-outbox.ts';
import { DAY_MS, HOUR_MS } from '../core/duration.ts';

export interface DispatcherOptions {
  endpoints: WebhookEndpoint[];
  retry: RetryPolicy;
  /** Where every attempt is recorded: the daemon's delivery log file, or (in Azure Functions) the invocation's log. */
  log: Pick<DeliveryLog, 'append'>;
  logger: Logger;
  /** Told about every attempt (metrics). */
  onAttempt?: (record: DeliveryRecord) => void;
  /** Where deliveries wait until an endpoint accepts them: the store's outbox; default one in memory. */
  outbox?: DeliveryOutbox;
  /**
   * Also look for due deliveries this often (a fleet: rows peers enqueued after this worker last looked).
   * Without it the dispatcher looks on its own enqueues and when the earliest pending row falls due.
   */
  pollMs?: number;
  /** The clock of event times, due times and the retry window; default Date.now. */
  now?: () => number;
  /**
   * Only queue, never deliver: a CLI command, whose process ends before a retry could be due, leaves its
   * deliveries in the store's outbox for the daemon.
   */
  queueOnly?: boolean;
}

/** Deliveries one dispatcher has under way at once. */
const CONCURRENT_DELIVERIES = 8;
/** A claim lasts one attempt's timeout plus this; a claimant that dies lets the row fall due after it. */
const LEASE_MARGIN_MS = 15_000;
/** Delivered and failed rows are kept this long, so a later duplicate of the event is still ignored. */
const KEEP_SETTLED_MS = 30 * DAY_MS;
const PRUNE_EVERY_MS = HOUR_MS;
/**
 * A pending row whose event is older than the retry window and this is expired (settled as failed): no worker
 * has its endpoint configured any more, or none ran since. The margin leaves peers whose window is a little
 * longer (a rolling deploy changing it) their last attempts.
 */
const EXPIRE_AFTER_WINDOW_MS = DAY_MS;
const EXPIRED_ERROR = 'not delivered within the retry window: no running worker has this endpoint configured';
/** How soon the dispatcher tries again when the outbox cannot be read (store down). */
const OUTBOX_RETRY_MS = 5_000;
/** The longest timer (setTimeout cannot wait longer than ~24 days); a far-off retry is looked at again then. */
const MAX_SLEEP_MS = PRUNE_EVERY_MS;

/** What an attempt's answer means for its delivery. */
type Decision =
  { outcome: 'delivered' } | { outcome: 'failed' } | { outcome: 'retrying'; nextAttemptAt: number };

/**
 * Sends webhooks for keeper events: one outbox row per event and subscribed endpoint (the same event id is
 * queued once), delivered by a loop that claims due rows, posts them signed, and settles or reschedules them
 * with exponential backoff and jitter (honouring Retry-After) until delivered, refused, capped by maxAttempts,
 * or out of the retry window after the event. Every attempt goes to the delivery log. Deliveries run in the
 * background and never slow the refresh engine. With a durable outbox (the store's) pending deliveries outlive
 * the process: a crash re-delivers at least once, and a shutdown leaves them for the next start.
 */
export class WebhookDispatcher {
  private readonly options: DispatcherOptions;
  private readonly outbox: DeliveryOutbox;
  private readonly now: () => number;
  private readonly owner = `webhooks:${randomUUID()}`;
  private readonly byKey: Map<string, WebhookEndpoint>;
  /** The rows this dispatcher claims and waits for: those of its endpoints. */
  private readonly endpointKeys: readonly string[];
  private readonly leaseMs: number;
  private readonly attempts = new Set<Promise<void>>();
  private readonly enqueues = new Set<Promise<void>>();
  /** Aborts the deliveries under way: for good on drain(), or those of one run on settle(). */
  private stopping = new AbortController();
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  private readonly watchers = new Set<() => void>();
  private lastPruneAt = 0;
  /** Connections with a `recovered` webhook queued in this tick: one recovery can raise two engine events. */
  private readonly recoveredThisTick = new Set<string>();

  constructor(options: DispatcherOptions) {
    this.options = options;
    this.outbox = options.outbox ?? new MemoryOutbox();
    this.now = options.now ?? Date.now;
    this.leaseMs = options.retry.timeoutMs + LEASE_MARGIN_MS;
    this.byKey = new Map(options.endpoints.map((endpoint) => [endpoint.key, endpoint]));
    this.endpointKeys = [...this.byKey.keys()];
    // Without endpoints this process claims nothing: rows of other endpoints are left to the workers that have them.
    this.pump();
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

  /** Queues `body` for every subscribed endpoint; returns the event id. */
  send(body: WebhookEventBody): string {
    const payload = this.payloadOf(body);
    const createdAt = Date.parse(payload.createdAt);
    const deliveries: NewDelivery[] = this.options.endpoints
      .filter((endpoint) => payload.type === 'test' || endpoint.events.has(payload.type))
      .map((endpoint) => ({
        eventId: payload.id,
        endpointKey: endpoint.key,
        payload: JSON.stringify(payload),
        createdAt,
      }));
    if (deliveries.length === 0) return payload.id;
    const work = this.outbox
      .enqueue(deliveries)
      .then(
        () => this.pump(),
        (error: unknown) =>
          this.options.logger.error(
            { event: payload.type, connection: payload.connection.name, error: describeError(error) },
            'webhook not queued',
          ),
      )
      .finally(() => {
        this.enqueues.delete(work);
        this.changed();
      });
    this.enqueues.add(work);
    return payload.id;
  }

  /**
   * Delivers `payload` to one endpoint now, outside the outbox, with up to `retry.maxAttempts` attempts (default
   * one): `tokenkeeper webhook test`.
   */
  async deliver(endpoint: WebhookEndpoint, payload: WebhookPayload): Promise<void> {
    const { retry } = this.options;
    const attempts = retry.maxAttempts ?? 1;
    for (let attempt = 1; ; attempt++) {
      const result = await postWebhook(endpoint, payload, { timeoutMs: retry.timeoutMs });
      const final = result.ok || !result.retryable || attempt >= attempts;
      const waitMs = final
        ? undefined
        : backoffDelay(attempt, { baseMs: retry.baseMs, maxMs: retry.maxMs }, result.retryAfterMs);
      const outcome = result.ok ? 'delivered' : final ? 'failed' : 'retrying';
      this.record(endpoint.label, payload, attempt, outcome, result, waitMs);
      if (waitMs === undefined) return;
      await sleep(waitMs);
    }
  }

  /**
   * Shutdown: waits up to `graceMs` for what is due (an in-memory outbox: for everything pending, retries
   * included), then stops. Deliveries cut off then are `postponed` in a durable outbox (pending for the next
   * start) and `abandoned` in memory, as is everything else still pending there.
   */
  async drain(graceMs: number): Promise<void> {
    await this.until(() => this.quiet(), Date.now() + graceMs);
    await Promise.all([...this.enqueues]);
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pumping;
    await this.cutOff('daemon stopping');
  }

  /**
   * Waits up to `graceMs` for everything pending (retries included), then gives up on what is left (each
   * recorded as `abandoned` with `reason`; `postponed` in a durable outbox) and keeps accepting events. For a
   * host that may freeze the process once an invocation returns (Azure Functions). Resolves with how many
   * deliveries were given up.
   */
  async settle(graceMs: number, reason: string): Promise<number> {
    const idle = await this.until(async () => (await this.pending()) === 0, Date.now() + graceMs);
    return idle ? 0 : this.cutOff(reason);
  }

  /** Aborts the attempts under way and, in memory, abandons every pending row; returns how many were hit. */
  private async cutOff(reason: string): Promise<number> {
    const inFlight = [...this.attempts];
    const stopping = this.stopping;
    this.stopping = new AbortController();
    stopping.abort(reason);
    await Promise.all(inFlight);
    if (this.outbox.durable) return inFlight.length;
    let abandoned = inFlight.length;
    for (;;) {
      const claims = await this.outbox.claimDue({
        owner: this.owner,
        now: Number.MAX_SAFE_INTEGER - this.leaseMs,
        endpointKeys: this.endpointKeys,
        limit: 100,
        leaseMs: this.leaseMs,
      });
      if (claims.length === 0) return abandoned;
      for (const claim of claims) {
        const endpoint = this.byKey.get(claim.endpointKey);
        await this.outbox.settle(claim, { state: 'failed', at: this.now(), error: reason });
        const result = { ok: false, error: reason, retryable: false, durationMs: 0 };
        const payload = storedPayload(claim.payload);
        if (payload)
          this.record(endpoint?.label ?? claim.endpointKey, payload, claim.attempts + 1, 'abandoned', result);
        abandoned++;
      }
    }
  }

  /** Nothing under way or due now (a durable outbox), or nothing pending at all (in memory). */
  private async quiet(): Promise<boolean> {
    if (this.attempts.size > 0 || this.enqueues.size > 0) return false;
    if (!this.outbox.durable) return (await this.outbox.pendingCount()) === 0;
    const now = this.now();
    const next = await this.outbox.nextDueAt({ now, endpointKeys: this.endpointKeys });
    return next === undefined || next > now;
  }

  private async pending(): Promise<number> {
    return this.attempts.size + this.enqueues.size + (await this.outbox.pendingCount());
  }

  /** Resolves true once `condition` holds, false at `deadline`; re-checked whenever a delivery changes. */
  private async until(condition: () => Promise<boolean>, deadline: number): Promise<boolean> {
    for (;;) {
      if (await condition().catch(() => true)) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.watchers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 250));
        this.watchers.add(done);
      });
    }
  }

  private changed(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  /**
   * Claims due rows while there is room, then arms the timer for the next due time. Runs on start, after each
   * enqueue and each attempt, and on the timer — in the async context of what triggered it, so an Azure
   * invocation's deliveries (retries included) log to that invocation.
   */
  private pump(): void {
    if (this.stopped || this.options.queueOnly || this.options.endpoints.length === 0) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.pumpOnce().finally(() => {
      this.pumping = undefined;
      if (!this.pumpAgain) return;
      this.pumpAgain = false;
      this.pump();
    });
  }

  private async pumpOnce(): Promise<void> {
    try {
      await this.pruneNowAndThen();
      for (;;) {
        const room = CONCURRENT_DELIVERIES - this.attempts.size;
        // Full: the next attempt to finish pumps again.
        if (room <= 0) return;
        const claims = await this.outbox.claimDue({
          owner: this.owner,
          now: this.now(),
          endpointKeys: this.endpointKeys,
          limit: room,
          leaseMs: this.leaseMs,
        });
        if (this.stopped) {
          for (const claim of claims) {
            await this.outbox.reschedule(claim, { nextAttemptAt: this.now(), attempted: false });
          }
          return;
        }
        for (const claim of claims) this.start(claim);
        if (claims.length < room) break;
      }
      const now = this.now();
      const next = await this.outbox.nextDueAt({ now, endpointKeys: this.endpointKeys });
      this.arm(next === undefined ? undefined : next - now);
    } catch (error) {
      this.options.logger.warn({ error: describeError(error) }, 'webhook outbox unavailable; trying again');
      this.arm(OUTBOX_RETRY_MS);
    }
  }

  private arm(waitMs: number | undefined): void {
    const { pollMs } = this.options;
    clearTimeout(this.timer);
    if (this.stopped) return;
    const wait = pollMs === undefined ? waitMs : Math.min(waitMs ?? pollMs, pollMs);
    // Nothing pending and no peers to poll: the next enqueue pumps, and an idle dispatcher holds no timer.
    if (wait === undefined) return;
    this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(wait, MAX_SLEEP_MS)));
    this.timer.unref();
  }

  private async pruneNowAndThen(): Promise<void> {
    const now = this.now();
    if (now - this.lastPruneAt < PRUNE_EVERY_MS) return;
    this.lastPruneAt = now;
    await this.outbox.prune(now - KEEP_SETTLED_MS);
    const expired = await this.outbox.expire({
      createdBefore: now - this.options.retry.retryForMs - EXPIRE_AFTER_WINDOW_MS,
      at: now,
      error: EXPIRED_ERROR,
    });
    if (expired > 0) this.options.logger.warn({ count: expired }, `webhooks expired, ${EXPIRED_ERROR}`);
  }

  private start(claim: DeliveryClaim): void {
    const work = this.attempt(claim)
      .catch((error: unknown) =>
        this.options.logger.error(
          { eventId: claim.eventId, error: describeError(error) },
          'webhook delivery not recorded in the outbox; it is tried again when its claim lapses',
        ),
      )
      .finally(() => {
        this.attempts.delete(work);
        this.changed();
        this.pump();
      });
    this.attempts.add(work);
  }

  /** One attempt of a claimed row, and what it means for the row. */
  private async attempt(claim: DeliveryClaim): Promise<void> {
    const { logger, retry } = this.options;
    // Claims hold only rows of this dispatcher's endpoint keys.
    const endpoint = this.byKey.get(claim.endpointKey) as WebhookEndpoint;
    const payload = storedPayload(claim.payload);
    if (!payload) {
      if (await this.outbox.drop(claim)) {
        logger.warn(
          { endpoint: endpoint.label, eventId: claim.eventId },
          'webhook dropped: its stored payload is not readable',
        );
      }
      return;
    }
    // Captured: settle() cuts off the attempts under way at that moment, not those claimed after it.
    const { signal } = this.stopping;
    const result = await postWebhook(endpoint, payload, { timeoutMs: retry.timeoutMs, signal });
    const attempt = claim.attempts + 1;
    const now = this.now();
    if (!result.ok && signal.aborted) {
      const reason = typeof signal.reason === 'string' ? signal.reason : 'stopping';
      const cut = { ...result, error: reason };
      if (this.outbox.durable) {
        await this.outbox.reschedule(claim, { nextAttemptAt: now, attempted: false });
        this.record(endpoint.label, payload, attempt, 'postponed', cut);
      } else {
        await this.outbox.settle(claim, { state: 'failed', at: now, error: reason });
        this.record(endpoint.label, payload, attempt, 'abandoned', cut);
      }
      return;
    }
    const decision = this.decide(result, attempt, claim.createdAt, now);
    const held =
      decision.outcome === 'retrying'
        ? await this.outbox.reschedule(claim, {
            nextAttemptAt: decision.nextAttemptAt,
            attempted: true,
            error: result.error,
          })
        : await this.outbox.settle(claim, { state: decision.outcome, at: now, error: result.error });
    if (!held) {
      logger.info(
        { eventId: claim.eventId, endpoint: endpoint.label },
        'webhook claim lapsed before its outcome was saved',
      );
    }
    const waitMs = decision.outcome === 'retrying' ? decision.nextAttemptAt - now : undefined;
    this.record(endpoint.label, payload, attempt, decision.outcome, result, waitMs);
    if (decision.outcome === 'failed') {
      logger.warn(
        {
          endpoint: endpoint.label,
          event: payload.type,
          connection: payload.connection.name,
          attempt,
          error: result.error,
        },
        'webhook failed',
      );
    }
  }

  /** Delivered, refused, out of attempts or of the retry window, or due again after a backoff. */
  private decide(result: AttemptResult, attempt: number, createdAt: number, now: number): Decision {
    const { retry } = this.options;
    if (result.ok) return { outcome: 'delivered' };
    if (!result.retryable) return { outcome: 'failed' };
    if (retry.maxAttempts !== undefined && attempt >= retry.maxAttempts) return { outcome: 'failed' };
    const deadline = createdAt + retry.retryForMs;
    if (now >= deadline) return { outcome: 'failed' };
    const waitMs = backoffDelay(attempt, { baseMs: retry.baseMs, maxMs: retry.maxMs }, result.retryAfterMs);
    // The last attempt is at the end of the window, not a backoff short of it.
    return { outcome: 'retrying', nextAttemptAt: Math.ceil(Math.min(now + waitMs, deadline)) };
  }

  private payloadOf(body: WebhookEventBody): WebhookPayload {
    const { id, ...content } = body;
    return {
      id: id ?? `evt_${randomUUID()}`,
      createdAt: new Date(this.now()).toISOString(),
      ...content,
    };
  }

  private record(
    endpoint: string,
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
      endpoint,
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

/** A row's payload as this version reads it; undefined for one it cannot send (a foreign or damaged row). */
function storedPayload(text: string): WebhookPayload | undefined {
  try {
    const payload = JSON.parse(text) as Partial<WebhookPayload> | null;
    return typeof payload?.id === 'string' && typeof payload.connection?.name === 'string'
      ? (payload as WebhookPayload)
      : undefined;
  } catch {
    return undefined;
  }
}
