/**
 * Migration 1: connections (secrets as tokenkeeper envelopes, never plaintext), the refresh locks, the fleet's
 * worker registry, and the due index. Times are epoch milliseconds (bigint), like the embedded store.
 * Plain SQL, run inside one transaction with `search_path` set to the store's schema.
 */
export default {
  version: 1,
  name: 'initial',
  sql: `
CREATE TABLE meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE connections (
  name text PRIMARY KEY,
  provider text NOT NULL,
  grant_type text NOT NULL DEFAULT 'refresh_token',
  client_id text NOT NULL,
  client_secret text,                 -- envelope
  access_token text,                  -- envelope
  refresh_token text,                 -- envelope
  expires_at bigint,
  obtained_at bigint,
  scope text,
  token_type text,
  provider_user_id text,
  status text NOT NULL,
  pending_attempt_id text,
  pending_refresh_token text,         -- envelope
  pending_started_at bigint,
  pending_owner text,
  failure_count integer NOT NULL DEFAULT 0,
  last_error text,
  last_error_at bigint,
  last_refresh_at bigint,
  next_attempt_at bigint,
  version bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  -- When a scheduler should next look at this connection; NULL when it never should (needs_reauth, retired).
  next_refresh_at bigint,
  -- The fleet worker working on it; valid while that worker's row in "workers" is alive.
  claim_owner text,
  claim_fence bigint NOT NULL DEFAULT 0,
  -- Provider rate limit accounting for this connection (one user at one app): a fixed window and its count.
  rate_window_start bigint,
  rate_window_count integer NOT NULL DEFAULT 0
) WITH (fillfactor = 80);

CREATE INDEX connections_due ON connections (next_refresh_at) WHERE next_refresh_at IS NOT NULL;
CREATE INDEX connections_claimed ON connections (claim_owner) WHERE claim_owner IS NOT NULL;

-- One refresher per connection (design "Lock"): owner, host, pid, fencing counter, expiry (database clock).
CREATE TABLE locks (
  name text PRIMARY KEY,
  owner text,
  host text,
  pid integer,
  fence bigint NOT NULL,
  expires_at bigint NOT NULL
);

-- Fleet members (tokenkeeper run processes); a member whose expires_at has passed is dead and its claims free.
CREATE TABLE workers (
  owner text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
`,
};
