import { createHash, timingSafeEqual } from 'node:crypto';
import { TokenkeeperError } from '../core/errors.ts';

/** A caller of the HTTP function: the SHA-256 of its key and the one connection it may read. */
export interface Caller {
  connection: string;
  keyHash: Buffer;
}

export const CALLERS_SETTING = 'TOKENKEEPER_HTTP_CALLERS';

/**
 * Parses `NAME=SHA256HEX[,NAME=SHA256HEX…]`: each caller key (sent in `x-tokenkeeper-caller-key`) unlocks the
 * access token of one connection. Only hashes live in app settings; the keys stay with the callers.
 */
export function parseCallers(setting: string | undefined): Caller[] {
  if (!setting?.trim()) return [];
  return setting
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, index) => {
      const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)=([0-9a-fA-F]{64})$/.exec(entry);
      if (!match) {
        throw new TokenkeeperError(
          'config',
          `${CALLERS_SETTING} entry ${index + 1} is not CONNECTION=SHA256HEX (hash a caller key with: printf %s "$KEY" | sha256sum)`,
        );
      }
      return { connection: match[1] as string, keyHash: Buffer.from(match[2] as string, 'hex') };
    });
}

/** The connection a caller key unlocks, comparing every entry in constant time. */
export function connectionForKey(callers: Caller[], key: string | null | undefined): string | undefined {
  if (!key) return undefined;
  const hash = createHash('sha256').update(key, 'utf8').digest();
  let found: string | undefined;
  for (const caller of callers) {
    if (timingSafeEqual(hash, caller.keyHash) && found === undefined) found = caller.connection;
  }
  return found;
}
