import { createHash } from 'node:crypto';
import { configDefaults } from '../config/defaults.ts';
import { resolveSecretRef } from '../config/secret-ref.ts';
import type { ConfigFile } from '../config/schema.ts';
import { TokenkeeperError } from '../core/errors.ts';
import { checkEndpointUrl } from '../core/url-policy.ts';
import {
  defaultWebhookFormat,
  formatNeedsSecret,
  webhookFormats,
  type WebhookFormat,
} from '../core/webhook-formats.ts';
import { webhookEventTypes, type WebhookEventType } from './events.ts';
import { signingKeyOf } from './signature.ts';
import { HOUR_MS } from '../core/duration.ts';

export { webhookFormats, type WebhookFormat };

export interface WebhookEndpoint {
  /** Its outbox key (see endpointKey): unique among the configured endpoints. */
  key: string;
  /** Shown in logs and the delivery log instead of the URL. */
  label: string;
  url: string;
  /** Absent: the default format (see formatOf). */
  format?: WebhookFormat;
  /** The current `whsec_` signing secret; required for "standard", optional for the others (their URL is one). */
  secret?: string;
  /** Secrets being rotated out: each signs every delivery too. */
  previousSecrets?: readonly string[];
  /** For "ntfy": an access token, sent as `Authorization: Bearer`. */
  token?: string;
  /** The daemon's public base URL (server.publicUrl): messages that need a human link to its reconnect page. */
  publicUrl?: string;
  events: ReadonlySet<WebhookEventType>;
}

export function formatOf(endpoint: Pick<WebhookEndpoint, 'format'>): WebhookFormat {
  return endpoint.format ?? defaultWebhookFormat;
}

/** Whether deliveries to `endpoint` must be signed (and so need a secret). */
export function needsSigningSecret(endpoint: Pick<WebhookEndpoint, 'format'>): boolean {
  return formatNeedsSecret(formatOf(endpoint));
}

/**
 * The outbox key of an endpoint: its name when it has one (so a changed URL, e.g. a rotated Slack webhook, still
 * gets what was pending), else a short SHA-256 of its URL — never the URL, which may be a secret. Rows queued by
 * earlier versions carry the same keys.
 */
export function endpointKey(name: string | undefined, url: string): string {
  return name !== undefined
    ? `name:${name}`
    : `url:${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
}

export interface RetryPolicy {
  /** Retry a delivery until this long after its event, then mark it failed. */
  retryForMs: number;
  /** An optional cap on the attempts per delivery (none by default: the time window decides). */
  maxAttempts?: number;
  baseMs: number;
  maxMs: number;
  timeoutMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  retryForMs: configDefaults.webhooks.retryForHours * HOUR_MS,
  baseMs: configDefaults.webhooks.retryBaseSeconds * 1000,
  maxMs: configDefaults.webhooks.retryMaxSeconds * 1000,
  timeoutMs: configDefaults.webhooks.timeoutSeconds * 1000,
};

export type WebhookSettings = { endpoints: WebhookEndpoint[]; retry: RetryPolicy };

/** One entry of `webhooks.endpoints` as the config schema checked it. */
export type WebhookEndpointEntry = NonNullable<ConfigFile['webhooks']>['endpoints'][number];

/** An endpoint from outside the config file (Azure app settings), and the names its errors give its fields. */
export interface ExtraWebhookEndpoint {
  entry: WebhookEndpointEntry;
  names: { url: string; secret: string; previousSecrets?: string };
}

/**
 * Resolves the `webhooks` config section, plus `extra` endpoints already checked against the same schema: secrets
 * from their references (each a valid `whsec_` secret), URLs checked (https or loopback http, no credentials),
 * each endpoint's distinct outbox key, and server.publicUrl for the reconnect links.
 */
export function webhookSettingsFrom(
  config: ConfigFile,
  env: NodeJS.ProcessEnv = process.env,
  extra: readonly ExtraWebhookEndpoint[] = [],
): WebhookSettings {
  const publicUrl = publicUrlFrom(config);
  const fromConfig = (config.webhooks?.endpoints ?? []).map((entry, index) => {
    const at = `webhooks.endpoints.${index}`;
    return {
      entry,
      names: { url: `${at}.url`, secret: `${at}.secret`, previousSecrets: `${at}.previousSecrets` },
    };
  });
  const sources = [...fromConfig, ...extra];
  // Where each endpoint is written: webhooks.endpoints.N, or the app setting of its URL.
  const places = sources.map(({ names }) => names.url.replace(/\.url$/, ''));
  const endpoints = sources.map(({ entry, names }, index): WebhookEndpoint => {
    const at = places[index] as string;
    const url = endpointUrl(entry.url, names.url, env);
    const format = formatOf(entry);
    const secret = (ref: string, name: string) => {
      const value = resolveSecretRef(ref, name, env);
      signingKeyOf(value, name);
      return value;
    };
    const previous = (entry.previousSecrets ?? []).map((ref, index) =>
      secret(ref, `${names.previousSecrets ?? `${names.secret} (previous)`}.${index}`),
    );
    if (entry.secret === undefined && formatNeedsSecret(format)) {
      throw new TokenkeeperError(
        'config',
        `${names.secret} is missing: set it to env:NAME or file:PATH of a whsec_… secret (generate one with \`tokenkeeper webhook secret\`)`,
      );
    }
    if (entry.token !== undefined && format !== 'ntfy') {
      throw new TokenkeeperError('config', `${at}.token is for format "ntfy" (an ntfy access token)`);
    }
    return {
      key: endpointKey(entry.name, url.href),
      label: entry.name ?? `${at} (${url.origin})`,
      url: url.href,
      format,
      ...(entry.secret !== undefined && { secret: secret(entry.secret, names.secret) }),
      ...(previous.length > 0 && { previousSecrets: previous }),
      ...(entry.token !== undefined && { token: resolveSecretRef(entry.token, `${at}.token`, env) }),
      ...(publicUrl !== undefined && { publicUrl }),
      events: new Set<WebhookEventType>(entry.events ?? webhookEventTypes),
    };
  });
  refuseSharedKeys(endpoints, places);
  return { endpoints, retry: retryPolicyFrom(config) };
}

/** The `webhooks` section's retry settings, defaults filled in. */
export function retryPolicyFrom(config: ConfigFile): RetryPolicy {
  const section = config.webhooks;
  return {
    retryForMs: (section?.retryForHours ?? defaultRetryPolicy.retryForMs / HOUR_MS) * HOUR_MS,
    ...(section?.maxAttempts !== undefined && { maxAttempts: section.maxAttempts }),
    baseMs: (section?.retryBaseSeconds ?? defaultRetryPolicy.baseMs / 1000) * 1000,
    maxMs: (section?.retryMaxSeconds ?? defaultRetryPolicy.maxMs / 1000) * 1000,
    timeoutMs: (section?.timeoutSeconds ?? defaultRetryPolicy.timeoutMs / 1000) * 1000,
  };
}

/** Two endpoints with one outbox key would share (and lose) deliveries: the same name, or the same URL unnamed. */
function refuseSharedKeys(endpoints: readonly WebhookEndpoint[], places: readonly string[]): void {
  endpoints.forEach((endpoint, index) => {
    const first = endpoints.findIndex((other) => other.key === endpoint.key);
    if (first < index) {
      throw new TokenkeeperError(
        'config',
        `${places[index]} repeats ${places[first]}: give each a distinct name`,
      );
    }
  });
}

/**
 * The endpoint's URL: as written, or from a secret reference (`env:NAME`, `file:PATH`, `literal:VALUE`) for a URL
 * that is itself the secret (a Slack, Discord or ntfy webhook URL), whose value then never appears in an error.
 * Credentials in it are refused: fetch would put them in its error texts, and from there in logs.
 */
export function endpointUrl(value: string, name: string, env: NodeJS.ProcessEnv): URL {
  const reference = /^(env|file|literal):/.test(value);
  const resolved = reference ? resolveSecretRef(value, name, env) : value;
  if (reference && !URL.canParse(resolved)) {
    throw new TokenkeeperError('config', `${name}: the value of ${value} is not a valid URL`);
  }
  const url = checkEndpointUrl(resolved, name);
  if (url.username || url.password) {
    throw new TokenkeeperError(
      'config',
      `${name} must not carry a user name or password: for ntfy, set the endpoint's token to env:NAME of an access token`,
    );
  }
  return url;
}

/**
 * server.publicUrl checked as endpoints are (https, or http on loopback) and as the origin the status page is
 * served at: the page's links and forms are root-absolute, so a path, query, fragment or credentials are refused.
 */
export function publicUrlFrom(config: ConfigFile): string | undefined {
  const value = config.server?.publicUrl;
  if (value === undefined) return undefined;
  const url = checkEndpointUrl(value, 'server.publicUrl');
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new TokenkeeperError(
      'config',
      `server.publicUrl must be the origin people open the status page at (like ${url.origin}), without a path, query, fragment or credentials`,
    );
  }
  return url.origin;
}
