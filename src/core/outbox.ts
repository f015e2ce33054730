/**
 * The webhook outbox contract: where pending deliveries wait until an endpoint accepts them. The stores implement
 * it over their own storage (SQLite file, PostgreSQL schema) and webhooks/ has one in memory; the dispatcher
 * (webhooks/dispatcher.ts) drives any of them. A row is one event for one endpoint, keyed by (eventId,
 * endpointKey): enqueueing a key that is pending or delivered does nothing, so an event raised by every worker of
 * a fleet, or again after a restart, is delivered once. A key whose delivery failed is armed again (pending, no
 * attempts): an event raised again after its endpoint gave up (a warning re-raised by the next run) is tried again.
 *
 * Times are epoch milliseconds of the caller's clock (event times, due times, the retry window), except a lease's
 * end: a claim leases a row by moving its `nextAttemptAt` to the end of the lease and raising its fence, and an
 * outbox shared by several machines (PostgreSQL) keeps leases on its own clock, so a worker whose clock runs ahead
 * cannot take a row a peer is still delivering. A claimant that dies simply lets the row fall due again, and one
 * whose lease ran out and was claimed by another can no longer settle it.
 *
 * A claimant only takes rows of the endpoints it has configured: in a rolling deploy a worker that does not know
 * an endpoint yet (or any more) leaves its rows to the workers that do. Rows no worker takes (an endpoint removed
 * everywhere) are expired: once their event is older than the retry window and a margin, they are settled as
 * failed with the reason (so a duplicate of the event is still recognised until they are pruned).
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
  /** On the outbox's lease clock (the caller's, or the database's for PostgreSQL). */
  leaseUntil: number;
}

export interface ClaimDeliveries {
  owner: string;
  now: number;
  /** The endpoints this claimant delivers to: rows of other endpoints are left to the claimants that have them. */
  endpointKeys: readonly string[];
  limit: number;
  /** How long the claimant may take before the row falls due for others again. */
  leaseMs: number;
}

/** Which rows a claimant looks at: due at `now`, of its endpoints. */
export type DueRows = Pick<ClaimDeliveries, 'now' | 'endpointKeys'>;

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface DeliveryOutbox {
  /** Rows survive the process (a store's table): a shutdown leaves them pending for the next start. */
  readonly durable: boolean;
  /** Inserts the deliveries whose key is not there yet (or failed), due at once; returns how many were queued. */
  enqueue(deliveries: readonly NewDelivery[]): Promise<number>;
  /** Leases up to `limit` pending rows of `endpointKeys` due at `now`, the most overdue first. */
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
  /**
   * When the earliest pending row of `endpointKeys` falls due on the clock of `now` (a leased row: when its lease
   * ends); rows of other endpoints are not this claimant's to wait for.
   */
  nextDueAt(request: DueRows): Promise<number | undefined>;
  /** How many rows are pending (leased ones included). */
  pendingCount(): Promise<number>;
  /** Deletes delivered and failed rows settled before `before`; returns how many. */
  prune(before: number): Promise<number>;
  /**
   * Settles as failed, with `error`, every pending row of an event from before `createdBefore` (leased or not):
   * rows nobody delivered within the retry window, as those of an endpoint no worker configures any more.
   * Returns how many.
   */
  expire(request: { createdBefore: number; at: number; error: string }): Promise<number>;
  /** Deletes one claimed row whatever its state (a payload this version cannot read); false when it was gone. */
  drop(claim: DeliveryClaim): Promise<boolean>;
}
