/**
 * Migration 3: the webhook outbox. One row per event and endpoint, kept after delivery (until pruned) so the same
 * event id raised by every worker of a fleet is delivered once. A claimed row's next_attempt_at is the end of its
 * lease; claim_fence grows with every claim, so a claimant whose lease ran out cannot settle the row.
 */
export default {
  version: 3,
  name: 'webhook-outbox',
  sql: `
CREATE TABLE webhook_outbox (
  event_id text NOT NULL,
  endpoint_key text NOT NULL,
  payload text NOT NULL,               -- the JSON webhook payload (no secrets)
  created_at bigint NOT NULL,
  state text NOT NULL DEFAULT 'pending', -- pending | delivered | failed
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint NOT NULL,
  claim_owner text,
  claim_fence bigint NOT NULL DEFAULT 0,
  last_error text,
  settled_at bigint,
  PRIMARY KEY (event_id, endpoint_key)
);

CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_outbox_settled ON webhook_outbox (settled_at) WHERE state <> 'pending';
`,
};
