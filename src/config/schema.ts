import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { webhookEventTypes } from '../core/events.ts';
import { webhookFormats } from '../core/webhook-formats.ts';
import { logLevels } from '../core/logger.ts';
import { KEY_VAULT_CONNECTION_NAME, KEY_VAULT_SECRET_NAME } from '../core/names.ts';

// zod/mini loads in a fraction of classic zod's time, and the CLI checks the config on every run that has one;
// it ships no messages of its own, so it gets zod's English ones.
z.config(en());

const optional = z.optional;
const nonEmpty = () => z.string().check(z.minLength(1));
/** A positive, finite number of seconds (zod 4 numbers are finite). */
const seconds = () => z.number().check(z.positive());
const wholeNumber = (min: number, max?: number) =>
  max === undefined ? z.int().check(z.minimum(min)) : z.int().check(z.minimum(min), z.maximum(max));

const providerSettings = z.strictObject({
  extends: optional(nonEmpty()),
  displayName: optional(z.string()),
  authorizationUrl: optional(z.string()),
  tokenUrl: optional(z.string()),
  revokeUrl: optional(z.string()),
  /** RFC 8628 device authorization endpoint (enables `connect --device`). */
  deviceAuthorizationUrl: optional(z.string()),
  apiBaseUrl: optional(z.string()),
  /** Fills `{tenant}` in the endpoint URLs (Microsoft: a tenant id or domain, or common/organizations/consumers). */
  tenant: optional(
    z
      .string()
      .check(
        z.regex(
          /^[A-Za-z0-9][A-Za-z0-9.-]*$/,
          'must be a tenant id, a domain, or common/organizations/consumers',
        ),
      ),
  ),
  clientAuth: optional(z.enum(['basic', 'body'])),
  pkce: optional(z.boolean()),
  scopeSeparator: optional(z.string()),
  scopes: optional(z.array(z.string())),
  extraAuthParams: optional(z.record(z.string(), z.string())),
  extraTokenParams: optional(z.record(z.string(), z.string())),
  clientId: optional(z.string()),
  /** A secret reference: env:NAME or file:PATH. */
  clientSecret: optional(z.string()),
  redirectUri: optional(z.string()),
  /** When the client secret expires (ISO 8601 date), to be warned before it does (`expiring_soon`). */
  clientSecretExpiresAt: optional(z.union([z.iso.datetime({ offset: true }), z.iso.date()])),
  /** Google: "testing" apps get refresh tokens that die 7 days after consent. Default "production". */
  publishingStatus: optional(z.enum(['testing', 'production'])),
  /** How long refresh tokens live, in days; 0: they do not expire by time. Default: the catalog's. */
  refreshTokenLifetimeDays: optional(z.number().check(z.minimum(0))),
  /** Whether each use restarts that lifetime (an "unused for N days" rule). Default: the catalog's, else false. */
  refreshTokenRenewedByUse: optional(z.boolean()),
  /** Refresh at least every N days while the daemon runs. Default: the catalog's. */
  keepAliveDays: optional(seconds()),
  /** Access-token lifetime assumed when a response has no expires_in. Default: refresh.defaultLifetimeSeconds. */
  defaultLifetimeSeconds: optional(seconds()),
  /** Warn this many days before a refresh token dies. Default: refresh.expiringSoonDays. */
  expiringSoonDays: optional(seconds()),
});

/** The daemon's HTTP server (`tokenkeeper run`); see docs/serving.md. */
const serverSettings = z.strictObject({
  /** Set false to run the scheduler only (same as `run --no-server`). */
  enabled: optional(z.boolean()),
  /** host:port, default 127.0.0.1:8977. */
  listen: optional(nonEmpty()),
  tls: optional(z.strictObject({ cert: nonEmpty(), key: nonEmpty() })),
  /** Requests per API key per window on /v1 (default 600 per 60 s). */
  rateLimit: optional(z.strictObject({ max: wholeNumber(1), windowSeconds: optional(seconds()) })),
  /** Set false to turn off the status page at / (the API, /metrics and health checks stay). */
  statusPage: optional(z.boolean()),
  /**
   * Require an operator login (`tokenkeeper login`) to read the status page and /metrics on a loopback listen
   * too. Off loopback it is always required.
   */
  loginRequired: optional(z.boolean()),
  /** Secret reference (env:NAME or file:PATH) of a bearer token that may read /metrics, e.g. for Prometheus. */
  metricsToken: optional(nonEmpty()),
  /**
   * The daemon's address as people reach it (https://keeper.example.com), for the reconnect links in messages
   * that ask a human to act: an origin, without a path. Default: none (messages carry no link).
   */
  publicUrl: optional(nonEmpty()),
});

const webhookSettings = z.strictObject({
  endpoints: z.array(
    z.strictObject({
      /** The URL, or env:NAME / file:PATH / literal:URL of it when the URL is itself a secret (Slack, Discord, ntfy). */
      url: nonEmpty(),
      /**
       * What the body is: "standard" (signed JSON, Standard Webhooks), or a short human message for a Slack or
       * Discord incoming webhook or an ntfy topic. Default "standard".
       */
      format: optional(z.enum(webhookFormats)),
      /** Signing secret reference (env:NAME or file:PATH) of a whsec_… secret; required for "standard". */
      secret: optional(nonEmpty()),
      /** References of secrets being rotated out: deliveries carry a signature for each as well. */
      previousSecrets: optional(z.array(nonEmpty())),
      /** For "ntfy": reference (env:NAME or file:PATH) of an access token, sent as `Authorization: Bearer`. */
      token: optional(nonEmpty()),
      name: optional(nonEmpty()),
      events: optional(z.array(z.enum(webhookEventTypes)).check(z.minLength(1))),
    }),
  ),
  /** Keep retrying a delivery this long after its event (hours, at least 24 by default). */
  retryForHours: optional(seconds()),
  maxAttempts: optional(wholeNumber(1, 20)),
  retryBaseSeconds: optional(seconds()),
  retryMaxSeconds: optional(seconds()),
  timeoutSeconds: optional(seconds()),
});

/** Key Vault secret names, one per role (the same option names as the keyvault:// store spec's). */
const secretName = () =>
  z
    .string()
    .check(z.regex(KEY_VAULT_SECRET_NAME, 'must be 1–127 letters, digits and "-" (a Key Vault secret name)'));
const keyVaultSecretNames = z.strictObject({
  refreshTokenSecret: optional(secretName()),
  accessTokenSecret: optional(secretName()),
  credentialsSecret: optional(secretName()),
  clientIdSecret: optional(secretName()),
  clientSecretSecret: optional(secretName()),
  stateSecret: optional(secretName()),
});

/** The Key Vault store (keyvault://…); see docs/azure.md. */
const keyVaultSettings = z.strictObject({
  /**
   * Connections whose secrets have names of the user's choosing, e.g. `AccessToken` for a pipeline that reads
   * it. Only these (and the store spec's `seed`) may take over secrets tokenkeeper did not create.
   */
  connections: optional(
    z.record(
      z.string().check(z.regex(KEY_VAULT_CONNECTION_NAME, 'must be letters, digits and inner "-"')),
      keyVaultSecretNames,
    ),
  ),
  /** Also tag access-token secrets with the account id and scope (readable with list permission). Default false. */
  accountTags: optional(z.boolean()),
});

export const configSchema = z.strictObject({
  /** SQLite file path (or sqlite:PATH). */
  store: optional(nonEmpty()),
  /** Where the key file, the default store and the rescue journal live. */
  dataDir: optional(nonEmpty()),
  logLevel: optional(z.enum(logLevels)),
  refresh: optional(
    z.strictObject({
      marginSeconds: optional(seconds()),
      marginRatio: optional(z.number().check(z.minimum(0), z.maximum(0.9))),
      defaultLifetimeSeconds: optional(seconds()),
      timeoutSeconds: optional(seconds()),
      maxAttempts: optional(wholeNumber(1, 10)),
      maxResponseBytes: optional(wholeNumber(1024)),
      // At most 60 s: an Azure blob lease (the Key Vault store's lock) lasts 15–60 s and is renewed every third.
      lockTtlSeconds: optional(seconds().check(z.maximum(60))),
      lockWaitSeconds: optional(seconds()),
      /** How long a failed store write of new tokens is retried before they wait in the rescue journal. */
      saveRetrySeconds: optional(seconds()),
      /** Warn (`expiring_soon`) this many days before a refresh token dies. Default 7 (1 for 7-day tokens). */
      expiringSoonDays: optional(seconds()),
    }),
  ),
  connect: optional(
    z.strictObject({
      port: optional(wholeNumber(0, 65535)),
      timeoutSeconds: optional(seconds()),
    }),
  ),
  daemon: optional(
    z.strictObject({
      concurrency: optional(wholeNumber(1, 256)),
      maxSleepSeconds: optional(seconds()),
    }),
  ),
  providers: optional(z.record(z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]*$/)), providerSettings)),
  server: optional(serverSettings),
  webhooks: optional(webhookSettings),
  keyVault: optional(keyVaultSettings),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type ProviderSettings = z.infer<typeof providerSettings>;
