import { z } from 'zod';

const seconds = z.number().positive().finite();

const providerSettings = z
  .object({
    extends: z.string().min(1).optional(),
    displayName: z.string().optional(),
    authorizationUrl: z.string().optional(),
    tokenUrl: z.string().optional(),
    revokeUrl: z.string().optional(),
    apiBaseUrl: z.string().optional(),
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
        lockTtlSeconds: seconds.optional(),
        lockWaitSeconds: seconds.optional(),
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
  })
  .strict();

export type ConfigFile = z.infer<typeof configSchema>;
export type ProviderSettings = z.infer<typeof providerSettings>;
