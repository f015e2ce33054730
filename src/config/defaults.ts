import { defaultExpiryPolicy } from '../core/expiry.ts';
import { deepFreeze } from './freeze.ts';

/**
 * What every config key is when the config does not set it: the one place of these defaults (as fastify's
 * `defaultInitOptions`). schema.ts says what a key may hold; settings.ts applies these; help texts and the
 * modules that need a default read it from here. The refresh margins are those of the expiry math in core/.
 * Keys without an entry (store, dataDir, logLevel, providers, server.tls, server.metricsToken, webhook endpoints)
 * have no single value: settings.ts says what their absence means.
 */
export const configDefaults = deepFreeze({
  refresh: {
    marginSeconds: defaultExpiryPolicy.marginMs / 1000,
    marginRatio: defaultExpiryPolicy.marginRatio,
    defaultLifetimeSeconds: defaultExpiryPolicy.defaultLifetimeMs / 1000,
    timeoutSeconds: 15,
    maxAttempts: 3,
    maxResponseBytes: 1024 * 1024,
    lockTtlSeconds: 60,
    lockWaitSeconds: 120,
    saveRetrySeconds: 30,
  },
  connect: {
    /** The loopback callback server's port; 0 picks a free port per connect. */
    port: 8976,
    timeoutSeconds: 300,
  },
  daemon: {
    concurrency: 4,
    maxSleepSeconds: 60,
  },
  server: {
    enabled: true,
    listen: '127.0.0.1:8977',
    rateLimit: { max: 600, windowSeconds: 60 },
    statusPage: true,
    loginRequired: false,
  },
  webhooks: {
    /** A delivery is retried this long after its event; `maxAttempts` (unset: no cap) may stop it sooner. */
    retryForHours: 24,
    retryBaseSeconds: 2,
    retryMaxSeconds: 3600,
    timeoutSeconds: 10,
  },
});

export type ConfigDefaults = typeof configDefaults;
