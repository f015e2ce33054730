import { parseRetryAfter } from '../core/backoff.ts';
import { describeError } from '../core/errors.ts';
import { version } from '../version.ts';
import type { WebhookEndpoint } from './endpoints.ts';
import type { WebhookPayload } from './events.ts';
import { SIGNATURE_HEADER, signatureHeader } from './signature.ts';

export interface AttemptResult {
  ok: boolean;
  status?: number;
  error?: string;
  /** Network errors, timeouts, 408, 429 and 5xx are worth another try; other answers are final. */
  retryable: boolean;
  retryAfterMs?: number;
  durationMs: number;
}

/** One signed POST of `payload` to `endpoint`. Redirects are not followed (the body would go elsewhere). */
export async function postWebhook(
  endpoint: WebhookEndpoint,
  payload: WebhookPayload,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<AttemptResult> {
  const body = JSON.stringify(payload);
  const started = Date.now();
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.any(signals),
      headers: {
        'content-type': 'application/json',
        'user-agent': `tokenkeeper/${version}`,
        'tokenkeeper-event': payload.type,
        'tokenkeeper-delivery': payload.id,
        [SIGNATURE_HEADER]: signatureHeader(endpoint.secret, body, Math.floor(Date.now() / 1000)),
      },
      body,
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

function networkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ? `network error ${cause.code}` : describeError(error);
}
