import type pg from 'pg';
import type {
  ClaimDeliveries,
  DeliveryClaim,
  DeliveryOutbox,
  DueRows,
  NewDelivery,
} from '../../core/outbox.ts';
import { claimFromRow, type ClaimedRow } from '../outbox-row.ts';
import { dbNow } from './fleet.ts';

export interface PostgresOutboxOptions {
  pool: pg.Pool;
  /** The qualified table name. */
  table: string;
  guard: <T>(what: string, work: () => Promise<T>) => Promise<T>;
}

/**
 * Pending webhook deliveries in the PostgreSQL store, shared by every worker of a fleet. Enqueueing is
 * insert-or-ignore on (event id, endpoint key), so the workers that all raise the same event add one row; claims
 * use `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for each other nor take the same row.
 *
 * Leases are on the database's clock, as the refresh fleet's claims are: the workers' clocks may disagree, and a
 * worker whose clock ran ahead must not take a row whose lease a peer is still in. A leased row (claim_owner
 * set) holds the end of its lease in database time; any other pending row holds its due time on the callers'
 * clock (the event's time, a retry's backoff), compared with the claimant's `now` — so a dispatcher on a clock a
 * test moves still sees its retries fall due.
 */
export class PostgresOutbox implements DeliveryOutbox {
  readonly durable = true;
  private readonly options: PostgresOutboxOptions;

  constructor(options: PostgresOutboxOptions) {
    this.options = options;
  }

  async enqueue(deliveries: readonly NewDelivery[]): Promise<number> {
    if (deliveries.length === 0) return 0;
    const { pool, table, guard } = this.options;
    return guard('queueing a webhook', async () => {
      const result = await pool.query({
        name: 'tk-outbox-enqueue',
        text: `INSERT INTO ${table} (event_id, endpoint_key, payload, created_at, next_attempt_at)
               SELECT e, k, p, c, c FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS d(e, k, p, c)
               ON CONFLICT (event_id, endpoint_key) DO UPDATE SET state = 'pending', payload = excluded.payload,
                 created_at = excluded.created_at, next_attempt_at = excluded.next_attempt_at, attempts = 0,
                 claim_owner = NULL, last_error = NULL, settled_at = NULL
               WHERE ${table}.state = 'failed'`,
        values: [
          deliveries.map((d) => d.eventId),
          deliveries.map((d) => d.endpointKey),
          deliveries.map((d) => d.payload),
          deliveries.map((d) => Math.floor(d.createdAt)),
        ],
      });
      return result.rowCount ?? 0;
    });
  }

  async claimDue(request: ClaimDeliveries): Promise<DeliveryClaim[]> {
    const { pool, table, guard } = this.options;
    return guard('claiming webhooks', async () => {
      const result = await pool.query<ClaimedRow>({
        name: 'tk-outbox-claim',
        text: `WITH due AS (
                 SELECT event_id, endpoint_key FROM ${table}
                 WHERE state = 'pending' AND endpoint_key = ANY($5::text[])
                   AND next_attempt_at <= CASE WHEN claim_owner IS NULL THEN $1::bigint ELSE ${dbNow} END
                 ORDER BY next_attempt_at LIMIT $2
                 FOR UPDATE SKIP LOCKED
               )
               UPDATE ${table} o SET claim_owner = $3, claim_fence = o.claim_fence + 1,
                 next_attempt_at = ${dbNow} + $4::bigint
               FROM due WHERE o.event_id = due.event_id AND o.endpoint_key = due.endpoint_key
               RETURNING o.event_id, o.endpoint_key, o.payload, o.created_at, o.attempts, o.claim_fence,
                 o.next_attempt_at`,
        values: [
          Math.floor(request.now),
          request.limit,
          request.owner,
          Math.ceil(request.leaseMs),
          request.endpointKeys,
        ],
      });
      return result.rows
        .map((row) => claimFromRow(row, request.owner))
        .sort((a, b) => a.createdAt - b.createdAt);
    });
  }

  async settle(
    claim: DeliveryClaim,
    outcome: { state: 'delivered' | 'failed'; at: number; error?: string },
  ): Promise<boolean> {
    return this.changed(
      'settling a webhook',
      'tk-outbox-settle',
      `state = $5, attempts = attempts + 1, settled_at = $6, last_error = $7, claim_owner = NULL`,
      claim,
      [outcome.state, Math.floor(outcome.at), outcome.error ?? null],
    );
  }

  async reschedule(
    claim: DeliveryClaim,
    next: { nextAttemptAt: number; attempted: boolean; error?: string },
  ): Promise<boolean> {
    return this.changed(
      'rescheduling a webhook',
      'tk-outbox-reschedule',
      `attempts = attempts + $5, next_attempt_at = $6, last_error = coalesce($7, last_error), claim_owner = NULL`,
      claim,
      [next.attempted ? 1 : 0, Math.ceil(next.nextAttemptAt), next.error ?? null],
    );
  }

  async nextDueAt(request: DueRows): Promise<number | undefined> {
    const { pool, table, guard } = this.options;
    return guard('reading the outbox', async () => {
      // A lease's end, in database time, as far from the caller's `now` as it is from the database's.
      const result = await pool.query<{ next: string | null }>({
        name: 'tk-outbox-next',
        text: `SELECT min(CASE WHEN claim_owner IS NULL THEN next_attempt_at
                               ELSE $1::bigint + (next_attempt_at - ${dbNow}) END) AS next
               FROM ${table} WHERE state = 'pending' AND endpoint_key = ANY($2::text[])`,
        values: [Math.floor(request.now), request.endpointKeys],
      });
      const next = result.rows[0]?.next;
      return next === null || next === undefined ? undefined : Number(next);
    });
  }

  async pendingCount(): Promise<number> {
    const { pool, table, guard } = this.options;
    return guard('reading the outbox', async () => {
      const result = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${table} WHERE state = 'pending'`,
      );
      return Number(result.rows[0]?.n ?? 0);
    });
  }

  async prune(before: number): Promise<number> {
    const { pool, table, guard } = this.options;
    return guard('pruning the outbox', async () => {
      const result = await pool.query(`DELETE FROM ${table} WHERE state <> 'pending' AND settled_at < $1`, [
        Math.floor(before),
      ]);
      return result.rowCount ?? 0;
    });
  }

  async expire(request: { createdBefore: number; at: number; error: string }): Promise<number> {
    const { pool, table, guard } = this.options;
    return guard('expiring webhooks', async () => {
      const result = await pool.query(
        `UPDATE ${table} SET state = 'failed', settled_at = $1, last_error = $2, claim_owner = NULL
         WHERE state = 'pending' AND created_at < $3`,
        [Math.floor(request.at), request.error, Math.floor(request.createdBefore)],
      );
      return result.rowCount ?? 0;
    });
  }

  async drop(claim: DeliveryClaim): Promise<boolean> {
    const { pool, table, guard } = this.options;
    return guard('dropping a webhook', async () => {
      const result = await pool.query(
        `DELETE FROM ${table} WHERE event_id = $1 AND endpoint_key = $2 AND claim_owner = $3 AND claim_fence = $4`,
        [claim.eventId, claim.endpointKey, claim.owner, claim.fence],
      );
      return result.rowCount === 1;
    });
  }

  /** One UPDATE of a row this claim still holds; $1–$4 name the claim, `values` follow from $5. */
  private async changed(
    what: string,
    name: string,
    assignments: string,
    claim: DeliveryClaim,
    values: unknown[],
  ): Promise<boolean> {
    const { pool, table, guard } = this.options;
    return guard(what, async () => {
      const result = await pool.query({
        name,
        text: `UPDATE ${table} SET ${assignments}
               WHERE event_id = $1 AND endpoint_key = $2 AND claim_owner = $3 AND claim_fence = $4
                 AND state = 'pending'`,
        values: [claim.eventId, claim.endpointKey, claim.owner, claim.fence, ...values],
      });
      return result.rowCount === 1;
    });
  }
}
