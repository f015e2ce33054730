import type { ClaimDeliveries, DeliveryClaim, DeliveryOutbox, DueRows, NewDelivery } from '../core/outbox.ts';
import type { SqliteStatements } from './sqlite-statements.ts';
import { claimFromRow, type ClaimedRow } from './outbox-row.ts';

/** The outbox table of the embedded store (run with the store's schema; CREATE … IF NOT EXISTS). */
export const sqliteOutboxSchema = `
CREATE TABLE IF NOT EXISTS webhook_outbox (
  event_id TEXT NOT NULL,
  endpoint_key TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  claim_owner TEXT,
  claim_fence INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  settled_at INTEGER,
  PRIMARY KEY (event_id, endpoint_key)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_outbox_settled ON webhook_outbox (settled_at) WHERE state <> 'pending';
`;

const HELD =
  'event_id = :event_id AND endpoint_key = :endpoint_key AND claim_owner = :owner AND claim_fence = :fence';

/**
 * Pending webhook deliveries in the embedded store's SQLite file, so they survive restarts and crashes. Every
 * change is one statement (a claim is one UPDATE … RETURNING), so processes sharing the file never claim a row
 * twice.
 */
export class SqliteOutbox implements DeliveryOutbox {
  readonly durable = true;
  private readonly sql: SqliteStatements;

  constructor(sql: SqliteStatements) {
    this.sql = sql;
  }

  async enqueue(deliveries: readonly NewDelivery[]): Promise<number> {
    return this.sql.guard('queue a webhook in', () => {
      let inserted = 0;
      for (const delivery of deliveries) {
        const result = this.sql
          .statement(
            `INSERT INTO webhook_outbox (event_id, endpoint_key, payload, created_at, next_attempt_at)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (event_id, endpoint_key) DO UPDATE SET state = 'pending', payload = excluded.payload,
             created_at = excluded.created_at, next_attempt_at = excluded.next_attempt_at, attempts = 0,
             claim_owner = NULL, last_error = NULL, settled_at = NULL
           WHERE webhook_outbox.state = 'failed'`,
          )
          .run(
            delivery.eventId,
            delivery.endpointKey,
            delivery.payload,
            delivery.createdAt,
            delivery.createdAt,
          );
        inserted += Number(result.changes);
      }
      return inserted;
    });
  }

  async claimDue(request: ClaimDeliveries): Promise<DeliveryClaim[]> {
    return this.sql.guard('claim webhooks in', () => {
      const rows = this.sql
        .statement(
          `UPDATE webhook_outbox SET claim_owner = :owner, claim_fence = claim_fence + 1,
           next_attempt_at = :now + :lease
         WHERE rowid IN (SELECT rowid FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= :now
                           AND endpoint_key IN (SELECT value FROM json_each(:keys))
                         ORDER BY next_attempt_at LIMIT :limit)
         RETURNING event_id, endpoint_key, payload, created_at, attempts, claim_fence, next_attempt_at`,
        )
        .all({
          owner: request.owner,
          now: Math.floor(request.now),
          lease: Math.ceil(request.leaseMs),
          limit: request.limit,
          keys: JSON.stringify(request.endpointKeys),
        }) as unknown as ClaimedRow[];
      return rows.map((row) => claimFromRow(row, request.owner));
    });
  }

  async settle(
    claim: DeliveryClaim,
    outcome: { state: 'delivered' | 'failed'; at: number; error?: string },
  ): Promise<boolean> {
    return this.sql.guard('settle a webhook in', () =>
      this.changed(
        `UPDATE webhook_outbox SET state = :state, attempts = attempts + 1, settled_at = :at,
           last_error = :error, claim_owner = NULL
         WHERE ${HELD} AND state = 'pending'`,
        claim,
        { state: outcome.state, at: Math.floor(outcome.at), error: outcome.error ?? null },
      ),
    );
  }

  async reschedule(
    claim: DeliveryClaim,
    next: { nextAttemptAt: number; attempted: boolean; error?: string },
  ): Promise<boolean> {
    return this.sql.guard('reschedule a webhook in', () =>
      this.changed(
        `UPDATE webhook_outbox SET attempts = attempts + :attempted, next_attempt_at = :next,
           last_error = coalesce(:error, last_error), claim_owner = NULL
         WHERE ${HELD} AND state = 'pending'`,
        claim,
        {
          attempted: next.attempted ? 1 : 0,
          next: Math.ceil(next.nextAttemptAt),
          error: next.error ?? null,
        },
      ),
    );
  }

  async nextDueAt(request: DueRows): Promise<number | undefined> {
    return this.sql.guard('read webhooks in', () => {
      const row = this.sql
        .statement(
          `SELECT min(next_attempt_at) AS next FROM webhook_outbox
           WHERE state = 'pending' AND endpoint_key IN (SELECT value FROM json_each(?))`,
        )
        .get(JSON.stringify(request.endpointKeys)) as { next: number | null } | undefined;
      return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
    });
  }

  async pendingCount(): Promise<number> {
    return this.sql.guard('read webhooks in', () => {
      const row = this.sql
        .statement(`SELECT count(*) AS n FROM webhook_outbox WHERE state = 'pending'`)
        .get() as {
        n: number;
      };
      return Number(row.n);
    });
  }

  async prune(before: number): Promise<number> {
    return this.sql.guard('prune webhooks in', () =>
      Number(
        this.sql
          .statement(`DELETE FROM webhook_outbox WHERE state <> 'pending' AND settled_at < ?`)
          .run(Math.floor(before)).changes,
      ),
    );
  }

  async expire(request: { createdBefore: number; at: number; error: string }): Promise<number> {
    return this.sql.guard('expire webhooks in', () =>
      Number(
        this.sql
          .statement(
            `UPDATE webhook_outbox SET state = 'failed', settled_at = :at, last_error = :error, claim_owner = NULL
             WHERE state = 'pending' AND created_at < :before`,
          )
          .run({
            at: Math.floor(request.at),
            error: request.error,
            before: Math.floor(request.createdBefore),
          }).changes,
      ),
    );
  }

  async drop(claim: DeliveryClaim): Promise<boolean> {
    return this.sql.guard('drop a webhook from', () =>
      this.changed(`DELETE FROM webhook_outbox WHERE ${HELD}`, claim, {}),
    );
  }

  private changed(
    sql: string,
    claim: DeliveryClaim,
    values: Record<string, string | number | null>,
  ): boolean {
    const result = this.sql.statement(sql).run({
      ...values,
      event_id: claim.eventId,
      endpoint_key: claim.endpointKey,
      owner: claim.owner,
      fence: claim.fence,
    });
    return Number(result.changes) === 1;
  }
}
