/**
 * The daemon's shutdown allowances. They are not config keys; the defaults of config keys (daemon.concurrency,
 * server.listen, …) are in config/defaults.ts.
 */
export const daemonDefaults = Object.freeze({
  /** How long requests in flight (a token request may be waiting on a refresh) get to finish on shutdown. */
  requestGraceMs: 20_000,
  /** How long pending webhook deliveries get on shutdown; what is still pending then is logged as abandoned. */
  webhookDrainMs: 5_000,
});
