import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';

type Delivery = { headers: IncomingHttpHeaders; body: string };

function stringHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) => (typeof value === 'string' ? [[name, value]] : [])),
  );
}

/**
 * Verifies a received delivery as a receiver does, with the maintained `standardwebhooks` npm package, and returns
 * its parsed JSON body; throws WebhookVerificationError when the signature, id or timestamp does not check out.
 */
export function verifiedJson(secret: string, hook: Delivery): unknown {
  return new Webhook(secret).verify(hook.body, stringHeaders(hook.headers));
}

/** Whether `standardwebhooks` accepts the delivery (any body) with `secret`. */
export function verifies(secret: string, hook: Delivery): boolean {
  try {
    new Webhook(secret).verify(hook.body, stringHeaders(hook.headers), { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}
