import { createHmac, randomBytes } from 'node:crypto';
import { TokenkeeperError } from '../core/errors.ts';

/**
 * Standard Webhooks (standardwebhooks.com) symmetric signing: a `whsec_<base64>` secret whose decoded bytes are the
 * HMAC-SHA256 key, and `webhook-signature: v1,<base64 HMAC of "<id>.<timestamp>.<body>">`, one per secret, space
 * separated, so a receiver still verifies with the old secret while it is being rotated out. Receivers verify with
 * the maintained `standardwebhooks` libraries.
 */
export const SECRET_PREFIX = 'whsec_';

/** The spec's bounds for a signing secret: 24 to 64 random bytes. */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const GENERATED_KEY_BYTES = 32;

/** A new random signing secret, `whsec_` + base64 of 32 bytes. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(GENERATED_KEY_BYTES).toString('base64')}`;
}

/**
 * The HMAC key of a `whsec_` secret. Refuses (naming `what`, never the value) anything but `whsec_` and canonical
 * padded base64 of 24–64 bytes: the libraries decode sloppier input differently or not at all.
 */
export function signingKeyOf(secret: string, what: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : undefined;
  const key = encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
  if (
    encoded === undefined ||
    key === undefined ||
    key.toString('base64') !== encoded ||
    key.length < MIN_KEY_BYTES ||
    key.length > MAX_KEY_BYTES
  ) {
    throw new TokenkeeperError(
      'config',
      `${what} is not a Standard Webhooks secret (whsec_ followed by the base64 of ${MIN_KEY_BYTES}–${MAX_KEY_BYTES} random bytes): generate one with \`tokenkeeper webhook secret\``,
    );
  }
  return key;
}

/** `v1,<base64>`: the signature of one delivery attempt with one key. */
export function signatureFor(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/**
 * The Standard Webhooks headers of one attempt: the event id, the attempt's time and, given keys, a signature per
 * key.
 */
export function standardWebhookHeaders(
  keys: readonly Buffer[],
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    ...(keys.length > 0 && {
      'webhook-signature': keys.map((key) => signatureFor(key, id, timestampSeconds, body)).join(' '),
    }),
  };
}
