import { configDefaults } from '../config/defaults.ts';
import { resolveSecretRef } from '../config/secret-ref.ts';
import type { ConfigFile } from '../config/schema.ts';
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
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
  timeoutMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: configDefaults.webhooks.maxAttempts,
  baseMs: configDefaults.webhooks.retryBaseSeconds * 1000,
  maxMs: configDefaults.webhooks.retryMaxSeconds * 1000,
  timeoutMs: configDefaults.webhooks.timeoutSeconds * 1000,
};

export type WebhookSettings = { endpoints: WebhookEndpoint[]; retry: RetryPolicy };

/** Resolves the `webhooks` config section: secrets from their references, URLs checked (https or loopback http). */
export function webhookSettingsFrom(
  config: ConfigFile,
  env: NodeJS.ProcessEnv = process.env,
): WebhookSettings {
  const section = config.webhooks;
  const endpoints = (section?.endpoints ?? []).map((entry, index) => {
    const where = `webhooks.endpoints.${index}`;
    const url = checkEndpointUrl(entry.url, `${where}.url`);
    return {
      label: entry.name ?? url.origin,
      url: url.href,
      secret: resolveSecretRef(entry.secret, `${where}.secret`, env),
      events: new Set<WebhookEventType>(entry.events ?? webhookEventTypes),
    };
  });
  return {
    endpoints,
    retry: {
      maxAttempts: section?.maxAttempts ?? defaultRetryPolicy.maxAttempts,
      baseMs: (section?.retryBaseSeconds ?? defaultRetryPolicy.baseMs / 1000) * 1000,
      maxMs: (section?.retryMaxSeconds ?? defaultRetryPolicy.maxMs / 1000) * 1000,
      timeoutMs: (section?.timeoutSeconds ?? defaultRetryPolicy.timeoutMs / 1000) * 1000,
    },
  };
}
