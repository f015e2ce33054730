import { keyFromBytes, type Keyring } from '../../src/crypto/envelope.ts';

/** Fixed 32-byte keys (64 hex characters): the test and benchmark stores are throwaway. */
export const KEY_A_HEX = '0123456789abcdef'.repeat(4);
export const KEY_B_HEX = 'fedcba9876543210'.repeat(4);

export function keyring(hex = KEY_A_HEX, previous: string[] = []): Keyring {
  return {
    current: keyFromBytes(Buffer.from(hex, 'hex')),
    previous: previous.map((key) => keyFromBytes(Buffer.from(key, 'hex'))),
  };
}
