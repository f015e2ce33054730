import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenkeeperError } from '../core/errors.ts';
import {
  decrypt,
  encrypt,
  envelopeKeyId,
  generateKeyText,
  keyFromBytes,
  parseKey,
  type Keyring,
} from './envelope.ts';

const keyA = keyFromBytes(Buffer.alloc(32, 0xa1));
const keyB = keyFromBytes(Buffer.alloc(32, 0xb2));
const ringA: Keyring = { current: keyA, previous: [] };
const ringB: Keyring = { current: keyB, previous: [] };

function errorOf(work: () => unknown): TokenkeeperError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TokenkeeperError);
    return error as TokenkeeperError;
  }
  throw new Error('expected an error');
}

/** Flips one bit in the given base64url part of an envelope. */
function flipBit(envelope: string, part: 2 | 3 | 4): string {
  const parts = envelope.split('.');
  const bytes = Buffer.from(parts[part] as string, 'base64url');
  bytes[0] = (bytes[0] as number) ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('encrypt / decrypt', () => {
  it('round-trips values, including empty and non-ASCII text', () => {
    for (const value of ['fr_refresh-token-value', '', 'ünïcødé ✓ 🔑', 'x'.repeat(10_000)]) {
      expect(decrypt(ringA, encrypt(ringA, value, 'me:refresh_token'), 'me:refresh_token')).toBe(value);
    }
  });

  it('never stores the plaintext and uses a fresh IV every time', () => {
    const secret = 'fr_0123456789abcdef0123456789';
    const first = encrypt(ringA, secret, 'me:refresh_token');
    const second = encrypt(ringA, secret, 'me:refresh_token');
    expect(first).not.toContain(secret);
    expect(first).not.toBe(second);
    expect(first.split('.')[2]).not.toBe(second.split('.')[2]);
  });

  it('writes a versioned envelope naming the key id', () => {
    const envelope = encrypt(ringA, 'v', 'ctx');
    const parts = envelope.split('.');
    expect(parts).toHaveLength(5);
    expect(parts[0]).toBe('tk1');
    expect(envelopeKeyId(envelope)).toBe(keyA.id);
    expect(envelopeKeyId('not-an-envelope')).toBeUndefined();
    expect(envelopeKeyId('tk0.a.b.c.d')).toBeUndefined();
  });

  it('binds the context: a ciphertext moved to another connection or field does not decrypt', () => {
    const envelope = encrypt(ringA, 'fr_secret', 'alice:refresh_token');
    for (const other of ['bob:refresh_token', 'alice:access_token', 'alice:refresh_token ', '']) {
      const error = errorOf(() => decrypt(ringA, envelope, other));
      expect(error.message).toMatch(/integrity/);
      expect(error.message).not.toContain('fr_secret');
    }
  });

  it('detects tampering with IV, ciphertext or tag', () => {
    const envelope = encrypt(ringA, 'fr_secret_value', 'me:refresh_token');
    for (const part of [2, 3, 4] as const) {
      expect(() => decrypt(ringA, flipBit(envelope, part), 'me:refresh_token')).toThrow(/integrity/);
    }
  });

  it('rejects a truncated authentication tag', () => {
    const parts = encrypt(ringA, 'fr_secret_value', 'ctx').split('.');
    parts[4] = Buffer.from(parts[4] as string, 'base64url')
      .subarray(0, 4)
      .toString('base64url');
    expect(() => decrypt(ringA, parts.join('.'), 'ctx')).toThrow(TokenkeeperError);
  });

  it('refuses a value that is not an envelope', () => {
    const error = errorOf(() => decrypt(ringA, 'plaintext-token', 'ctx'));
    expect(error.code).toBe('store');
  });

  it('names the missing key when the envelope was written with another key', () => {
    const envelope = encrypt(ringA, 'v', 'ctx');
    const error = errorOf(() => decrypt(ringB, envelope, 'ctx'));
    expect(error.code).toBe('wrong_key');
    expect(error.message).toContain(keyA.id);
    expect(error.message).toContain(keyB.id);
  });

  it('reads values of previous keys and writes with the current one (rotation)', () => {
    const old = encrypt(ringA, 'old value', 'ctx');
    const rotated: Keyring = { current: keyB, previous: [keyA] };
    expect(decrypt(rotated, old, 'ctx')).toBe('old value');
    const fresh = encrypt(rotated, 'new value', 'ctx');
    expect(envelopeKeyId(fresh)).toBe(keyB.id);
    expect(decrypt(ringB, fresh, 'ctx')).toBe('new value');
    expect(() => decrypt(ringA, fresh, 'ctx')).toThrow(/key/);
  });
});

describe('keys', () => {
  it('derives a stable 12-hex key id that differs between keys and does not reveal the key', () => {
    expect(keyA.id).toMatch(/^[0-9a-f]{12}$/);
    expect(keyFromBytes(Buffer.alloc(32, 0xa1)).id).toBe(keyA.id);
    expect(keyA.id).not.toBe(keyB.id);
    expect(keyA.bytes.toString('hex')).not.toContain(keyA.id);
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(errorOf(() => keyFromBytes(Buffer.alloc(16))).code).toBe('wrong_key');
    expect(errorOf(() => keyFromBytes(Buffer.alloc(33))).code).toBe('wrong_key');
  });

  it('parses 64 hex characters, base64 (with + / =) and base64url, ignoring surrounding whitespace', () => {
    const bytes = Buffer.from(`fbff${'fe'.repeat(12)}3e3f00112233445566778899aabbccddeeff`, 'hex');
    expect(bytes).toHaveLength(32);
    const id = keyFromBytes(bytes).id;
    const base64 = bytes.toString('base64');
    expect(base64).toMatch(/[+/]/);
    expect(base64.endsWith('=')).toBe(true);
    expect(parseKey(bytes.toString('hex'), 'test').id).toBe(id);
    expect(parseKey(bytes.toString('hex').toUpperCase(), 'test').id).toBe(id);
    expect(parseKey(base64, 'test').id).toBe(id);
    expect(parseKey(bytes.toString('base64url'), 'test').id).toBe(id);
    expect(parseKey(`  ${base64}\n`, 'test').id).toBe(id);
  });

  it('explains a bad key without echoing it', () => {
    for (const bad of ['', 'short', 'ab'.repeat(31), 'zz'.repeat(32), randomBytes(24).toString('base64')]) {
      const error = errorOf(() => parseKey(bad, 'TOKENKEEPER_KEY'));
      expect(error.code).toBe('wrong_key');
      expect(error.message).toContain('TOKENKEEPER_KEY');
      expect(error.message).toMatch(/64 hex|base64/);
      if (bad.length >= 6) expect(error.message).not.toContain(bad);
    }
  });

  it('generates keys that parse back to 32 random bytes', () => {
    const first = generateKeyText();
    const second = generateKeyText();
    expect(first).not.toBe(second);
    expect(parseKey(first, 'generated').bytes).toHaveLength(32);
  });
});
