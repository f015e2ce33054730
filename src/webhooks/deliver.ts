import { parseRetryAfter } from '../core/backoff.ts';
import { describeError } from '../core/errors.ts';
import { redactSecrets } from '../core/redact.ts';
import { version } from '../version.ts';
import { needsSigningSecret, type WebhookEndpoint } from './endpoints.ts';
import type { WebhookPayload } from './events.ts';
import { renderDelivery } from './formats.ts';
import { signingKeyOf, standardWebhookHeaders } from './signature.ts';

export interface AttemptResult {
  ok: boolean;
  status?: number;
  /** Never carries the endpoint's URL or token (either may be a secret). */
  error?: string;
  /** Network errors, timeouts, 408, 429 and 5xx are worth another try; other answers are final. */
  retryable: boolean;
  retryAfterMs?: number;
  durationMs: number;
}

/**
 * One POST of `payload` to `endpoint`, in the endpoint's format, with the Standard Webhooks headers: `webhook-id`
 * (the event id, the same on every retry), `webhook-timestamp` (this attempt) and, when the endpoint has secrets,
 * `webhook-signature` over the exact body sent. Redirects are not followed (the body would go elsewhere).
 * 410 Gone is final: Standard Webhooks has the receiver say so when the endpoint should be removed.
 */
export async function postWebhook(
  endpoint: WebhookEndpoint,
  payload: WebhookPayload,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<AttemptResult> {
  const started = Date.now();
  const rendered = renderDelivery(endpoint, payload, started);
  let signature: Record<string, string>;
  try {
    signature = signatureHeaders(endpoint, payload.id, Math.floor(started / 1000), rendered.body);
  } catch (error) {
    // webhookSettingsFrom refuses such endpoints; one built by hand fails here instead of sending unsigned.
    return { ok: false, error: safeText(endpoint, describeError(error)), retryable: false, durationMs: 0 };
  }
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.any(signals),
      headers: {
        ...rendered.headers,
        'content-type': rendered.contentType,
        'user-agent': `tokenkeeper/${version}`,
        'tokenkeeper-event': payload.type,
        ...(endpoint.token !== undefined && { authorization: `Bearer ${endpoint.token}` }),
        ...signature,
      },
      body: rendered.body,
    });
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    const ok = status >= 200 && status < 300;
    return {
      ok,
      status,
      error: ok ? undefined : status === 410 ? GONE : `HTTP ${status}`,
      retryable: status === 408 || status === 429 || status >= 500,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now()),
      durationMs: Date.now() - started,
    };
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    return {
      ok: false,
      error: timedOut ? `no answer within ${options.timeoutMs} ms` : safeText(endpoint, networkError(error)),
      retryable: true,
      durationMs: Date.now() - started,
    };
  }
}

/** The Standard Webhooks headers; "standard" must be signed, the other formats are when given a secret. */
function signatureHeaders(
  endpoint: WebhookEndpoint,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  const secrets = [
    ...(endpoint.secret === undefined ? [] : [endpoint.secret]),
    ...(endpoint.previousSecrets ?? []),
  ];
  if (secrets.length === 0 && needsSigningSecret(endpoint)) {
    throw new Error(`webhook endpoint ${endpoint.label} has no signing secret`);
  }
  const keys = secrets.map((secret) => signingKeyOf(secret, `the signing secret of ${endpoint.label}`));
  return standardWebhookHeaders(keys, id, timestampSeconds, body);
}

const GONE = 'endpoint says it is gone (410): remove it from the config';

/** An error text without the endpoint's URL or token, which fetch's errors may quote. */
function safeText(endpoint: WebhookEndpoint, text: string): string {
  return redactSecrets(text, [endpoint.url, endpoint.token]);
}

function networkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ? `network error ${cause.code}` : describeError(error);
}
