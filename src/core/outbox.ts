/**
 * The webhook outbox contract: where pending deliveries wait until an endpoint accepts them. The stores implement
 * it over their own storage (SQLite file, PostgreSQL schema) and webhooks/ has one in memory; the dispatcher
 * (webhooks/dispatcher.ts) drives any of them. A row is one event for one endpoint, keyed by (eventId,
 * endpointKey): enqueueing a key that is pending or delivered does nothing, so an event raised by every worker of
 * a fleet, or again after a restart, is delivered once. A key whose delivery failed is armed again (pending, no
 * attempts): an event raised again after its endpoint gave up (a warning re-raised by the next run) is tried again.
 *
 * Times are epoch milliseconds of the caller's clock. A claim leases a row by moving its `nextAttemptAt` to the
 * end of the lease and raising its fence: a claimant that dies simply lets the row fall due again, and one whose
 * lease ran out and was claimed by another can no longer settle it.
 */

/** One event for one endpoint, as enqueued. */
export interface NewDelivery {
  eventId: string;
  /** Stable across restarts and free of the URL (a Slack or Discord webhook URL is a secret). */
  endpointKey: string;
  /** The JSON webhook payload; it holds names, statuses and scrubbed errors, never secrets. */
  payload: string;
  /** When the event happened: retries stop a configured time after it. */
  createdAt: number;
}

/** A pending row handed to one claimant until `leaseUntil`. */
export interface DeliveryClaim extends NewDelivery {
  owner: string;
  fence: number;
  /** Attempts made before this claim. */
  attempts: number;
  leaseUntil: number;
}

export interface ClaimDeliveries {
  owner: string;
  now: number;
  limit: number;
  /** How long the claimant may take before the row falls due for others again. */
  leaseMs: number;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface DeliveryOutbox {
  /** Rows survive the process (a store's table): a shutdown leaves them pending for the next start. */
  readonly durable: boolean;
  /** Inserts the deliveries whose key is not there yet (or failed), due at once; returns how many were queued. */
  enqueue(deliveries: readonly NewDelivery[]): Promise<number>;
  /** Leases up to `limit` pending rows due at `now`, the most overdue first. */
  claimDue(request: ClaimDeliveries): Promise<DeliveryClaim[]>;
  /**
   * Settles a claimed row as delivered or failed (kept until pruned, so a later duplicate of a delivered one is
   * still ignored).
   * False when the claim was lost (its lease ran out and someone else claimed the row).
   */
  settle(
    claim: DeliveryClaim,
    outcome: { state: 'delivered' | 'failed'; at: number; error?: string },
  ): Promise<boolean>;
  /**
   * Hands a claimed row back, pending and due at `nextAttemptAt`; `attempted` counts the attempt just made (a
   * shutdown that cut an attempt off does not). False when the claim was lost.
   */
  reschedule(
    claim: DeliveryClaim,
    next: { nextAttemptAt: number; attempted: boolean; error?: string },
  ): Promise<boolean>;
  /** When the earliest pending row falls due (a leased row: when its lease ends). */
  nextDueAt(): Promise<number | undefined>;
  /** How many rows are pending (leased ones included). */
  pendingCount(): Promise<number>;
  /** Deletes delivered and failed rows settled before `before`; returns how many. */
  prune(before: number): Promise<number>;
  /** Deletes one row whatever its state (an endpoint that is no longer configured); false when it was gone. */
  drop(claim: DeliveryClaim): Promise<boolean>;
}
