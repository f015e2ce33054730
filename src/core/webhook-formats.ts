/** What a delivery's body is: signed JSON (Standard Webhooks), or a short message for a chat or push service. */
export const webhookFormats = ['standard', 'slack', 'discord', 'ntfy'] as const;
export type WebhookFormat = (typeof webhookFormats)[number];

/** The format of an endpoint that names none. */
export const defaultWebhookFormat: WebhookFormat = 'standard';

/** Only "standard" deliveries must be signed; a chat or push URL is itself the credential. */
export function formatNeedsSecret(format: WebhookFormat): boolean {
  return format === 'standard';
}
