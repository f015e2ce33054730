import { z } from 'zod';

const seconds = z.number().positive().finite();

const providerSettings = z
  .object({
    extends: z.string().min(1).optional(),
    displayName: z.string().optional(),
    authorizationUrl: z.string().optional(),
    tokenUrl: z.string().optional(),
    revokeUrl: z.string().optional(),
    /** RFC 8628 device authorization endpoint (enables `connect --device`). */
    deviceAuthorizationUrl: z.string().optional(),
    apiBaseUrl: z.string().optional(),
    /** Fills `{tenant}` in the endpoint URLs (Microsoft: a tenant id or domain, or common/organizations/consumers). */
    tenant: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9.-]*$/,
        'must be a tenant id, a domain, or common/organizations/consumers',
      )
      .optional(),
    clientAuth: z.enum(['basic', 'body']).optional(),
    pkce: z.boolean().optional(),
    scopeSeparator: z.string().optional(),
    scopes: z.array(z.string()).optional(),
    extraAuthParams: z.record(z.string(), z.string()).optional(),
    extraTokenParams: z.record(z.string(), z.string()).optional(),
    clientId: z.string().optional(),
    /** A secret reference: env:NAME or file:PATH. */
    clientSecret: z.string().optional(),
    redirectUri: z.string().optional(),
  })
  .strict();

/** The daemon's HTTP server (`tokenkeeper run`); see docs/serving.md. */
const serverSettings = z
  .object({
    /** Set false to run the scheduler only (same as `run --no-server`). */
    enabled: z.boolean().optional(),
    /** host:port, default 127.0.0.1:8977. */
    listen: z.string().min(1).optional(),
    tls: z
      .object({ cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    /** Requests per API key per window on /v1 (default 600 per 60 s). */
    rateLimit: z
      .object({ max: z.number().int().min(1), windowSeconds: seconds.optional() })
      .strict()
      .optional(),
    /** Set false to turn off the status page at / (the API, /metrics and health checks stay). */
    statusPage: z.boolean().optional(),
    /**
     * Require an operator login (`tokenkeeper login`) to read the status page and /metrics on a loopback listen
     * too. Off loopback it is always required.
     */
    loginRequired: z.boolean().optional(),
    /** Secret reference (env:NAME or file:PATH) of a bearer token that may read /metrics, e.g. for Prometheus. */
    metricsToken: z.string().min(1).optional(),
  })
  .strict();

const webhookSettings = z
  .object({
    endpoints: z.array(
      z
        .object({
          url: z.string().min(1),
          /** Signing secret reference: env:NAME or file:PATH. */
          secret: z.string().min(1),
          name: z.string().min(1).optional(),
          events: z
            .array(z.enum(['needs_reauth', 'provider_retired', 'recovered', 'refresh_failed']))
            .min(1)
            .optional(),
        })
        .strict(),
    ),
    maxAttempts: z.number().int().min(1).max(20).optional(),
    retryBaseSeconds: seconds.optional(),
    retryMaxSeconds: seconds.optional(),
    timeoutSeconds: seconds.optional(),
  })
  .strict();

export const configSchema = z
  .object({
    /** SQLite file path (or sqlite:PATH). */
    store: z.string().min(1).optional(),
    /** Where the key file, the default store and the rescue journal live. */
    dataDir: z.string().min(1).optional(),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).optional(),
    refresh: z
      .object({
        marginSeconds: seconds.optional(),
        marginRatio: z.number().min(0).max(0.9).optional(),
        defaultLifetimeSeconds: seconds.optional(),
        timeoutSeconds: seconds.optional(),
        maxAttempts: z.number().int().min(1).max(10).optional(),
        maxResponseBytes: z.number().int().min(1024).optional(),
        // At most 60 s: an Azure blob lease (the Key Vault store's lock) lasts 15–60 s and is renewed every third.
        lockTtlSeconds: seconds.max(60).optional(),
        lockWaitSeconds: seconds.optional(),
        /** How long a failed store write of new tokens is retried before they wait in the rescue journal. */
        saveRetrySeconds: seconds.optional(),
      })
      .strict()
      .optional(),
    connect: z
      .object({
        port: z.number().int().min(0).max(65535).optional(),
        timeoutSeconds: seconds.optional(),
      })
      .strict()
      .optional(),
    daemon: z
      .object({
        concurrency: z.number().int().min(1).max(256).optional(),
        maxSleepSeconds: seconds.optional(),
      })
      .strict()
      .optional(),
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), providerSettings).optional(),
    server: serverSettings.optional(),
    webhooks: webhookSettings.optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configSchema>;
export type ProviderSettings = z.infer<typeof providerSettings>;
