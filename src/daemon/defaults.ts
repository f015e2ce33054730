/**
 * What `tokenkeeper run` does when neither a flag nor the config says otherwise (config keys `daemon.*`).
 * The server's own defaults (listen address, rate limit, status page) are declared once in src/server.
 */
export const daemonDefaults = Object.freeze({
  /** Refreshes at once (`--concurrency`, `daemon.concurrency`). */
  concurrency: 4,
  /** Longest sleep between scheduler passes, so connections added by other processes are picked up. */
  maxSleepSeconds: 60,
  /** How long requests in flight (a token request may be waiting on a refresh) get to finish on shutdown. */
  requestGraceMs: 20_000,
  /** How long pending webhook deliveries get on shutdown; what is still pending then is logged as abandoned. */
  webhookDrainMs: 5_000,
});
