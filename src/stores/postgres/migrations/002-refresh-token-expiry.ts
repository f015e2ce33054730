/**
 * Migration 2: when a connection's refresh token dies (epoch ms; NULL: it does not expire by time, as far as
 * anyone says), and when its current lifetime started (the lifetime as issued picks its warning window). Not
 * secrets, so not sealed.
 */
export default {
  version: 2,
  name: 'refresh-token-expiry',
  sql: `
ALTER TABLE connections ADD COLUMN refresh_token_expires_at bigint;
ALTER TABLE connections ADD COLUMN refresh_token_issued_at bigint;
`,
};
