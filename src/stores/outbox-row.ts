import type { DeliveryClaim } from '../core/outbox.ts';

/** A claimed outbox row as SQLite or PostgreSQL returns it (bigint columns may come back as strings). */
export interface ClaimedRow {
  event_id: string;
  endpoint_key: string;
  payload: string;
  created_at: number | string;
  attempts: number;
  claim_fence: number | string;
  /** Where a claim puts the end of its lease. */
  next_attempt_at: number | string;
}

/** The one mapping from a claimed `webhook_outbox` row (same columns in both databases) to a claim. */
export function claimFromRow(row: ClaimedRow, owner: string): DeliveryClaim {
  return {
    eventId: row.event_id,
    endpointKey: row.endpoint_key,
    payload: row.payload,
    createdAt: Number(row.created_at),
    owner,
    fence: Number(row.claim_fence),
    attempts: Number(row.attempts),
    leaseUntil: Number(row.next_attempt_at),
  };
}
