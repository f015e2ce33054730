import { createHash } from 'node:crypto';

const MIN_SECRET_LENGTH = 6;
const CENSOR = '[redacted]';

/** Replaces every occurrence of the given secrets in `text` with a marker. */
export function redactSecrets(text: string, secrets: Iterable<string | undefined>): string {
  let result = text;
  for (const secret of secrets) {
    if (secret && secret.length >= MIN_SECRET_LENGTH) result = result.split(secret).join(CENSOR);
  }
  return result;
}

/**
 * Field names whose values are secrets wherever they appear (compared without regard to case). Log fields must
 * never hold secrets; censoring these is the second line of defence, the same for every log format.
 */
const secretFieldNames: ReadonlySet<string> = new Set(
  [
    'accessToken',
    'refreshToken',
    'clientSecret',
    'access_token',
    'refresh_token',
    'client_secret',
    'authorization',
  ].map((name) => name.toLowerCase()),
);

export function isSecretFieldName(name: string): boolean {
  return secretFieldNames.has(name.toLowerCase());
}

/**
 * A copy of log fields with the value of every secret-named field censored, at any depth of plain objects and
 * arrays (other objects, such as errors and dates, are kept as they are). The one redaction rule of the loggers.
 */
export function redactFields(fields: object): Record<string, unknown> {
  return redactValue(fields, new WeakSet()) as Record<string, unknown>;
}

function redactValue(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[circular]';
  if (Array.isArray(value)) {
    seen.add(value);
    const copy = value.map((item) => redactValue(item, seen));
    seen.delete(value);
    return copy;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  seen.add(value);
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = isSecretFieldName(key) && inner !== undefined ? CENSOR : redactValue(inner, seen);
  }
  seen.delete(value);
  return copy;
}

/** A short non-reversible fingerprint so output can tell two tokens apart without showing either. */
export function fingerprint(secret: string | undefined): string {
  if (!secret) return 'none';
  return `#${createHash('sha256').update(secret).digest('hex').slice(0, 8)}`;
}
