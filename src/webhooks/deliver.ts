import { parseRetryAfter } from '../core/backoff.ts';
import { describeError } from '../core/errors.ts';
import { version } from '../version.ts';
import type { WebhookEndpoint } from './endpoints.ts';
import type { WebhookPayload } from './events.ts';
import { renderDelivery } from './formats.ts';
import { signingKeyOf, standardWebhookHeaders } from './signature.ts';

export interface AttemptResult {
  ok: boolean;
  status?: number;
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
    return { ok: false, error: describeError(error), retryable: false, durationMs: 0 };
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
      error: ok ? undefined : `HTTP ${status}`,
      retryable: status === 408 || status === 429 || status >= 500,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now()),
      durationMs: Date.now() - started,
    };
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    return {
      ok: false,
      error: timedOut ? `no answer within ${options.timeoutMs} ms` : networkError(error),
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
  if (secrets.length === 0 && (endpoint.format ?? 'standard') === 'standard') {
    throw new Error(`webhook endpoint ${endpoint.label} has no signing secret`);
  }
  const keys = secrets.map((secret) => signingKeyOf(secret, `the signing secret of ${endpoint.label}`));
  return standardWebhookHeaders(keys, id, timestampSeconds, body);
}

function networkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ? `network error ${cause.code}` : describeError(error);
}
