/**
 * Migration 4: an index for the fleet's expiry sweep (`expiringBefore`), which otherwise reads the whole table
 * every sweep of every worker. Partial: connections whose refresh token does not expire by time (Fitbit) have no
 * entry, so their refreshes pay nothing for it.
 */
export default {
  version: 4,
  name: 'refresh-token-expiry-index',
  sql: `
CREATE INDEX connections_refresh_token_expiry ON connections (refresh_token_expires_at)
  WHERE refresh_token_expires_at IS NOT NULL;
`,
};
