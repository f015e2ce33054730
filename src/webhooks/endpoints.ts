import { configDefaults } from '../config/defaults.ts';
import { resolveSecretRef } from '../config/secret-ref.ts';
import type { ConfigFile } from '../config/schema.ts';
import { TokenkeeperError } from '../core/errors.ts';
import { checkEndpointUrl } from '../core/url-policy.ts';
import { webhookEventTypes, type WebhookEventType } from './events.ts';
import { signingKeyOf } from './signature.ts';

/** What a delivery's body is: signed JSON (Standard Webhooks), or a short message for a chat or push service. */
export const webhookFormats = ['standard', 'slack', 'discord', 'ntfy'] as const;
export type WebhookFormat = (typeof webhookFormats)[number];

export interface WebhookEndpoint {
  /** Shown in logs and the delivery log instead of the URL. */
  label: string;
  url: string;
  /** Absent: "standard". */
  format?: WebhookFormat;
  /** The current `whsec_` signing secret; required for "standard", optional for the others (their URL is one). */
  secret?: string;
  /** Secrets being rotated out: each signs every delivery too. */
  previousSecrets?: readonly string[];
  /** The daemon's public base URL (server.publicUrl): messages that need a human link to its reconnect page. */
  publicUrl?: string;
  events: ReadonlySet<WebhookEventType>;
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
  retryForMs: configDefaults.webhooks.retryForHours * 3_600_000,
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
 * from their references (each a valid `whsec_` secret), URLs checked (https or loopback http), and
 * server.publicUrl for the reconnect links.
 */
export function webhookSettingsFrom(
  config: ConfigFile,
  env: NodeJS.ProcessEnv = process.env,
  extra: readonly ExtraWebhookEndpoint[] = [],
): WebhookSettings {
  const section = config.webhooks;
  const publicUrl = publicUrlFrom(config);
  const fromConfig = (section?.endpoints ?? []).map((entry, index) => {
    const at = `webhooks.endpoints.${index}`;
    return {
      entry,
      names: { url: `${at}.url`, secret: `${at}.secret`, previousSecrets: `${at}.previousSecrets` },
    };
  });
  const endpoints = [...fromConfig, ...extra].map(({ entry, names }): WebhookEndpoint => {
    const url = endpointUrl(entry.url, names.url, env);
    const format = entry.format ?? 'standard';
    const secret = (ref: string, name: string) => {
      const value = resolveSecretRef(ref, name, env);
      signingKeyOf(value, name);
      return value;
    };
    const previous = (entry.previousSecrets ?? []).map((ref, index) =>
      secret(ref, `${names.previousSecrets ?? `${names.secret} (previous)`}.${index}`),
    );
    if (entry.secret === undefined && format === 'standard') {
      throw new TokenkeeperError(
        'config',
        `${names.secret} is missing: set it to env:NAME or file:PATH of a whsec_… secret (generate one with \`tokenkeeper webhook secret\`)`,
      );
    }
    return {
      label: entry.name ?? url.origin,
      url: url.href,
      format,
      ...(entry.secret !== undefined && { secret: secret(entry.secret, names.secret) }),
      ...(previous.length > 0 && { previousSecrets: previous }),
      ...(publicUrl !== undefined && { publicUrl }),
      events: new Set<WebhookEventType>(entry.events ?? webhookEventTypes),
    };
  });
  return {
    endpoints,
    retry: {
      retryForMs: (section?.retryForHours ?? defaultRetryPolicy.retryForMs / 3_600_000) * 3_600_000,
      ...(section?.maxAttempts !== undefined && { maxAttempts: section.maxAttempts }),
      baseMs: (section?.retryBaseSeconds ?? defaultRetryPolicy.baseMs / 1000) * 1000,
      maxMs: (section?.retryMaxSeconds ?? defaultRetryPolicy.maxMs / 1000) * 1000,
      timeoutMs: (section?.timeoutSeconds ?? defaultRetryPolicy.timeoutMs / 1000) * 1000,
    },
  };
}

/**
 * The endpoint's URL: as written, or from `env:NAME` / `file:PATH` for a URL that is itself the secret (a Slack,
 * Discord or ntfy webhook URL), whose value then never appears in an error.
 */
function endpointUrl(value: string, name: string, env: NodeJS.ProcessEnv): URL {
  if (!/^(env|file):/.test(value)) return checkEndpointUrl(value, name);
  const resolved = resolveSecretRef(value, name, env);
  if (!URL.canParse(resolved)) {
    throw new TokenkeeperError('config', `${name}: the value of ${value} is not a valid URL`);
  }
  return checkEndpointUrl(resolved, name);
}

/**
 * server.publicUrl checked as endpoints are (https, or http on loopback) and as a base the reconnect path is
 * appended to: no query, fragment or credentials.
 */
export function publicUrlFrom(config: ConfigFile): string | undefined {
  const value = config.server?.publicUrl;
  if (value === undefined) return undefined;
  const url = checkEndpointUrl(value, 'server.publicUrl');
  if (url.search || url.hash || url.username || url.password) {
    throw new TokenkeeperError(
      'config',
      `server.publicUrl ${url.origin} must be a base address people open (like https://keeper.example.com), without a query, fragment or credentials`,
    );
  }
  return url.href.replace(/\/+$/, '');
}
