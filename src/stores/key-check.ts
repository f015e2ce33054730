import { TokenkeeperError } from '../core/errors.ts';
import { decrypt, encrypt, envelopeKeyId, type Keyring } from '../crypto/envelope.ts';

/**
 * A store's `key_check`: a known plaintext sealed with the key that wrote the store, kept beside the rows so a
 * store opened with another key is refused before anything is read or overwritten. SQLite and PostgreSQL keep it
 * in their `meta` table; `doctor` reads it without opening the store.
 */
const PLAINTEXT = 'tokenkeeper-key-check';
const CONTEXT = 'meta:key_check';

/** A fresh key check sealed with the keyring's current key. */
export function sealKeyCheck(keyring: Keyring): string {
  return encrypt(keyring, PLAINTEXT, CONTEXT);
}

/** Whether the envelope's key is the keyring's current key or one of its previous keys. */
export function keyringHolds(keyring: Keyring, keyId: string | undefined): boolean {
  return [keyring.current, ...keyring.previous].some((key) => key.id === keyId);
}

/** Whether a store's `key_check` value was sealed by a key of `keyring` (read-only; used by `doctor`). */
export function keyCheckPasses(keyring: Keyring, check: string): boolean {
  if (!keyringHolds(keyring, envelopeKeyId(check))) return false;
  try {
    return decrypt(keyring, check, CONTEXT) === PLAINTEXT;
  } catch {
    return false;
  }
}

/**
 * Refuses a store sealed with a key the keyring does not hold (`wrong_key`, nothing changed); otherwise says
 * whether the store still awaits rotation to the current key (its check was sealed with a previous one).
 */
export function verifyKeyCheck(
  keyring: Keyring,
  check: string,
  location: string,
): { keyId: string; sealedWithCurrent: boolean } {
  const keyId = envelopeKeyId(check);
  if (keyId === undefined || !keyringHolds(keyring, keyId)) {
    throw new TokenkeeperError(
      'wrong_key',
      `store ${location} was encrypted with key ${keyId ?? '?'}, but the loaded key is ${keyring.current.id}: set TOKENKEEPER_KEY (or the key file) to the key that created this store; nothing was changed`,
    );
  }
  // A known key that does not open the check means a tampered or corrupted value: decrypt says which.
  if (decrypt(keyring, check, CONTEXT) !== PLAINTEXT) {
    throw new TokenkeeperError('wrong_key', `store ${location} key check failed: wrong key`);
  }
  return { keyId, sealedWithCurrent: keyId === keyring.current.id };
}
