import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `tkk_<id>_<secret>`: the id finds the stored record, the secret proves possession. */
const KEY_PATTERN = /^tkk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewKeyMaterial {
  id: string;
  /** The full key, shown to the user once. */
  key: string;
  /** What is stored: never the key itself. */
  hash: string;
}

export function generateApiKey(): NewKeyMaterial {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `tkk_${id}_${secret}`, hash: hashSecret(secret) };
}

/** Anything shaped like a key, whole or cut short: such text holds secret material and is never echoed. */
export function looksLikeApiKey(text: string): boolean {
  return /^\s*tkk_/i.test(text);
}

export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(key.trim());
  return match ? { id: match[1] as string, secret: match[2] as string } : undefined;
}

/** `tkl_<secret>`: a one-time operator login ticket; only its hash is stored. */
const LOGIN_TICKET_PATTERN = /^tkl_([A-Za-z0-9_-]{43})$/;

export function generateLoginTicket(): { ticket: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { ticket: `tkl_${secret}`, hash: hashSecret(secret) };
}

export function parseLoginTicket(ticket: string): string | undefined {
  return LOGIN_TICKET_PATTERN.exec(ticket.trim())?.[1];
}

/**
 * SHA-256, unsalted: the secret is 256 random bits, so there is nothing for a slow password hash to protect
 * against, and every API request has to verify one.
 */
export function secretDigest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/** `secretDigest` as stored: hex. */
export function hashSecret(secret: string): string {
  return secretDigest(secret).toString('hex');
}

/** Constant-time comparison of two digests of equal length. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
