/**
 * The daemon's shutdown allowances. They are not config keys; the defaults of config keys (daemon.concurrency,
 * server.listen, …) are in config/defaults.ts.
 */
export const daemonDefaults = Object.freeze({
  /** How long requests in flight (a token request may be waiting on a refresh) get to finish on shutdown. */
  requestGraceMs: 20_000,
  /**
   * How long due webhook deliveries get on shutdown; those cut off then are logged as postponed and stay in the
   * store's outbox for the next start (abandoned when the store has no outbox).
   */
  webhookDrainMs: 5_000,
});
