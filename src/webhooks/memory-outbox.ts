import type {
  ClaimDeliveries,
  DeliveryClaim,
  DeliveryOutbox,
  DeliveryState,
  DueRows,
  NewDelivery,
} from '../core/outbox.ts';

interface Row extends NewDelivery {
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  owner?: string;
  fence: number;
  lastError?: string;
  settledAt?: number;
}

/**
 * The outbox of a process without a store table for it (the Azure Functions app on Key Vault, custom stores):
 * the same rules as the stores' outboxes, lost with the process.
 */
export class MemoryOutbox implements DeliveryOutbox {
  readonly durable = false;
  private readonly rows = new Map<string, Row>();

  async enqueue(deliveries: readonly NewDelivery[]): Promise<number> {
    let inserted = 0;
    for (const delivery of deliveries) {
      const key = keyOf(delivery);
      const existing = this.rows.get(key);
      // Pending or delivered: queued once. A failed one is armed again (see core/outbox.ts).
      if (existing && existing.state !== 'failed') continue;
      this.rows.set(key, {
        ...delivery,
        state: 'pending',
        attempts: 0,
        nextAttemptAt: delivery.createdAt,
        fence: 0,
      });
      inserted++;
    }
    return inserted;
  }

  async claimDue(request: ClaimDeliveries): Promise<DeliveryClaim[]> {
    const keys = new Set(request.endpointKeys);
    const due = [...this.rows.values()]
      .filter(
        (row) => row.state === 'pending' && row.nextAttemptAt <= request.now && keys.has(row.endpointKey),
      )
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt)
      .slice(0, request.limit);
    return due.map((row) => {
      row.owner = request.owner;
      row.fence++;
      row.nextAttemptAt = request.now + request.leaseMs;
      return {
        eventId: row.eventId,
        endpointKey: row.endpointKey,
        payload: row.payload,
        createdAt: row.createdAt,
        owner: request.owner,
        fence: row.fence,
        attempts: row.attempts,
        leaseUntil: row.nextAttemptAt,
      };
    });
  }

  async settle(
    claim: DeliveryClaim,
    outcome: { state: 'delivered' | 'failed'; at: number; error?: string },
  ): Promise<boolean> {
    const row = this.held(claim);
    if (!row) return false;
    row.state = outcome.state;
    row.attempts++;
    row.settledAt = outcome.at;
    row.lastError = outcome.error;
    row.owner = undefined;
    return true;
  }

  async reschedule(
    claim: DeliveryClaim,
    next: { nextAttemptAt: number; attempted: boolean; error?: string },
  ): Promise<boolean> {
    const row = this.held(claim);
    if (!row) return false;
    if (next.attempted) row.attempts++;
    row.nextAttemptAt = next.nextAttemptAt;
    row.lastError = next.error ?? row.lastError;
    row.owner = undefined;
    return true;
  }

  async nextDueAt(request: DueRows): Promise<number | undefined> {
    const keys = new Set(request.endpointKeys);
    let next: number | undefined;
    for (const row of this.rows.values()) {
      if (!keys.has(row.endpointKey)) continue;
      if (row.state === 'pending' && (next === undefined || row.nextAttemptAt < next))
        next = row.nextAttemptAt;
    }
    return next;
  }

  async pendingCount(): Promise<number> {
    return [...this.rows.values()].filter((row) => row.state === 'pending').length;
  }

  async prune(before: number): Promise<number> {
    let pruned = 0;
    for (const [key, row] of this.rows) {
      if (row.state !== 'pending' && (row.settledAt ?? 0) < before) {
        this.rows.delete(key);
        pruned++;
      }
    }
    return pruned;
  }

  async expire(request: { createdBefore: number; at: number; error: string }): Promise<number> {
    let expired = 0;
    for (const row of this.rows.values()) {
      if (row.state !== 'pending' || row.createdAt >= request.createdBefore) continue;
      row.state = 'failed';
      row.settledAt = request.at;
      row.lastError = request.error;
      row.owner = undefined;
      expired++;
    }
    return expired;
  }

  async drop(claim: DeliveryClaim): Promise<boolean> {
    if (!this.held(claim)) return false;
    return this.rows.delete(keyOf(claim));
  }

  private held(claim: DeliveryClaim): Row | undefined {
    const row = this.rows.get(keyOf(claim));
    return row?.state === 'pending' && row.owner === claim.owner && row.fence === claim.fence
      ? row
      : undefined;
  }
}

function keyOf(delivery: Pick<NewDelivery, 'eventId' | 'endpointKey'>): string {
  return `${delivery.eventId}\u0000${delivery.endpointKey}`;
}
