import { createHash } from 'node:crypto';

const MIN_SECRET_LENGTH = 6;

/** Replaces every occurrence of the given secrets in `text` with a marker. */
export function redactSecrets(text: string, secrets: Iterable<string | undefined>): string {
  let result = text;
  for (const secret of secrets) {
    if (secret && secret.length >= MIN_SECRET_LENGTH) result = result.split(secret).join('[redacted]');
  }
  return result;
}

/** A short non-reversible fingerprint so output can tell two tokens apart without showing either. */
export function fingerprint(secret: string | undefined): string {
  if (!secret) return 'none';
  return `#${createHash('sha256').update(secret).digest('hex').slice(0, 8)}`;
}
