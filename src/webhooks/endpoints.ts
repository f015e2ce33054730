import { configDefaults } from '../config/defaults.ts';
import { resolveSecretRef } from '../config/secret-ref.ts';
import type { ConfigFile } from '../config/schema.ts';
import { TokenkeeperError } from '../core/errors.ts';
import { checkEndpointUrl } from '../core/url-policy.ts';
import { webhookEventTypes, type WebhookEventType } from './events.ts';

export interface WebhookEndpoint {
  /** Shown in logs and the delivery log instead of the URL. */
  label: string;
  url: string;
  secret: string;
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
  names: { url: string; secret: string };
}

/**
 * Resolves the `webhooks` config section, plus `extra` endpoints already checked against the same schema: secrets
 * from their references, URLs checked (https or loopback http).
 */
export function webhookSettingsFrom(
  config: ConfigFile,
  env: NodeJS.ProcessEnv = process.env,
  extra: readonly ExtraWebhookEndpoint[] = [],
): WebhookSettings {
  const section = config.webhooks;
  const fromConfig = (section?.endpoints ?? []).map((entry, index) => ({
    entry,
    names: { url: `webhooks.endpoints.${index}.url`, secret: `webhooks.endpoints.${index}.secret` },
  }));
  const endpoints = [...fromConfig, ...extra].map(({ entry, names }) => {
    const url = checkEndpointUrl(entry.url, names.url);
    return {
      label: entry.name ?? url.origin,
      url: url.href,
      secret: resolveSecretRef(requiredSecret(entry.secret, names.secret), names.secret, env),
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

function requiredSecret(ref: string | undefined, name: string): string {
  if (ref === undefined) {
    throw new TokenkeeperError(
      'config',
      `${name} is missing: set it to env:NAME or file:PATH of a whsec_… secret`,
    );
  }
  return ref;
}
