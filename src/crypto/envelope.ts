import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { TokenkeeperError } from '../core/errors.ts';

/**
 * Envelope encryption of secrets at rest: AES-256-GCM, a fresh 96-bit IV per value, and the context (which
 * connection and which field) bound in as additional authenticated data so a ciphertext cannot be moved to
 * another row or field. Format: `tk1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts). The key id lets old
 * keys stay readable while new writes use the current one, so keys rotate without downtime.
 */
const FORMAT = 'tk1';
const KEY_BYTES = 32;

export interface EncryptionKey {
  id: string;
  bytes: Buffer;
}

export interface Keyring {
  current: EncryptionKey;
  /** Older keys, still accepted for decryption. */
  previous: EncryptionKey[];
}

export function keyFromBytes(bytes: Buffer): EncryptionKey {
  if (bytes.length !== KEY_BYTES) {
    throw new TokenkeeperError('wrong_key', `encryption key must be ${KEY_BYTES} bytes, got ${bytes.length}`);
  }
  const id = createHash('sha256').update('tokenkeeper-key-id').update(bytes).digest('hex').slice(0, 12);
  return { id, bytes };
}

/** Accepts 64 hex characters or base64/base64url of 32 bytes. */
export function parseKey(text: string, origin: string): EncryptionKey {
  const trimmed = text.trim();
  let bytes: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) bytes = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) bytes = Buffer.from(trimmed, 'base64url');
  else {
    throw new TokenkeeperError(
      'wrong_key',
      `${origin} is not a valid key: use 32 random bytes as 64 hex characters or base64 (e.g. \`openssl rand -base64 32\`)`,
    );
  }
  return keyFromBytes(bytes);
}

const keyObjects = new WeakMap<EncryptionKey, KeyObject>();

/** The key imported once as a KeyObject: importing raw bytes on every call was a measurable share of a read. */
function keyObject(key: EncryptionKey): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = createSecretKey(key.bytes);
    keyObjects.set(key, object);
  }
  return object;
}

export function generateKeyText(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

export function encrypt(keyring: Keyring, plaintext: string, context: string): string {
  const { current } = keyring;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyObject(current), iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [
    FORMAT,
    current.id,
    iv.toString('base64url'),
    ciphertext.toString('base64url'),
    tag.toString('base64url'),
  ].join('.');
}

export function envelopeKeyId(envelope: string): string | undefined {
  const parts = envelope.split('.');
  return parts.length === 5 && parts[0] === FORMAT ? parts[1] : undefined;
}

export function decrypt(keyring: Keyring, envelope: string, context: string): string {
  const parts = envelope.split('.');
  if (parts.length !== 5 || parts[0] !== FORMAT) {
    throw new TokenkeeperError(
      'store',
      `stored secret for ${context} is not a tokenkeeper envelope (corrupted store?)`,
    );
  }
  const [, keyId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  const key = [keyring.current, ...keyring.previous].find((candidate) => candidate.id === keyId);
  if (!key) {
    throw new TokenkeeperError(
      'wrong_key',
      `secret for ${context} was encrypted with key ${keyId}, but the loaded key is ${keyring.current.id}: set TOKENKEEPER_KEY (or TOKENKEEPER_PREVIOUS_KEYS) to the key that wrote it`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyObject(key), Buffer.from(iv, 'base64url'), {
      authTagLength: 16,
    });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch (cause) {
    throw new TokenkeeperError(
      'store',
      `secret for ${context} failed its integrity check (tampered or corrupted)`,
      {
        cause,
      },
    );
  }
}
