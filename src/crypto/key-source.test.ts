import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encrypt, decrypt, keyFromBytes } from './envelope.ts';
import { loadKeyring } from './key-source.ts';
import { CreatedPaths } from '../files/owned-path.ts';

const HEX_A = '11'.repeat(32);
const HEX_B = '22'.repeat(32);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('loadKeyring', () => {
  it('uses TOKENKEEPER_KEY as hex and creates no key file', () => {
    const ring = loadKeyring({ dataDir: dir, env: { TOKENKEEPER_KEY: HEX_A } });
    expect(ring.current.id).toBe(keyFromBytes(Buffer.from(HEX_A, 'hex')).id);
    expect(ring.previous).toEqual([]);
    expect(() => statSync(join(dir, 'key'))).toThrow();
  });

  it('accepts TOKENKEEPER_KEY as base64', () => {
    const bytes = Buffer.alloc(32, 7);
    const ring = loadKeyring({ dataDir: dir, env: { TOKENKEEPER_KEY: bytes.toString('base64') } });
    expect(ring.current.id).toBe(keyFromBytes(bytes).id);
  });

  it('adds TOKENKEEPER_PREVIOUS_KEYS (comma-separated, spaces allowed) for decryption', () => {
    const ring = loadKeyring({
      dataDir: dir,
      env: { TOKENKEEPER_KEY: HEX_B, TOKENKEEPER_PREVIOUS_KEYS: ` ${HEX_A} , ${'33'.repeat(32)},` },
    });
    expect(ring.previous.map((key) => key.id)).toEqual([
      keyFromBytes(Buffer.from(HEX_A, 'hex')).id,
      keyFromBytes(Buffer.alloc(32, 0x33)).id,
    ]);
    const old = encrypt({ current: ring.previous[0]!, previous: [] }, 'v', 'ctx');
    expect(decrypt(ring, old, 'ctx')).toBe('v');
  });

  it('rejects a bad TOKENKEEPER_KEY or previous key with wrong_key, naming the variable', () => {
    expect(() => loadKeyring({ dataDir: dir, env: { TOKENKEEPER_KEY: 'not-a-key' } })).toThrow(
      expect.objectContaining({ code: 'wrong_key', message: expect.stringContaining('TOKENKEEPER_KEY') }),
    );
    expect(() =>
      loadKeyring({
        dataDir: dir,
        env: { TOKENKEEPER_KEY: HEX_A, TOKENKEEPER_PREVIOUS_KEYS: `${HEX_B},oops` },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'wrong_key',
        message: expect.stringContaining('PREVIOUS_KEYS entry 2'),
      }),
    );
  });

  it('creates a 0600 key file on first run (in a private directory) and reuses it afterwards', () => {
    const home = join(dir, 'nested', 'home');
    const first = loadKeyring({ dataDir: home, env: {} });
    const keyFile = join(home, 'key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o077).toBe(0);
    const contents = readFileSync(keyFile, 'utf8');

    const second = loadKeyring({ dataDir: home, env: {} });
    expect(second.current.id).toBe(first.current.id);
    expect(second.current.bytes.equals(first.current.bytes)).toBe(true);
    expect(readFileSync(keyFile, 'utf8')).toBe(contents);
  });

  it('each new data dir gets its own random key', () => {
    const a = loadKeyring({ dataDir: join(dir, 'a'), env: {} });
    const b = loadKeyring({ dataDir: join(dir, 'b'), env: {} });
    expect(a.current.id).not.toBe(b.current.id);
  });

  it('reads an existing key file (TOKENKEEPER_KEY_FILE or keyFile option) and never overwrites it', () => {
    const keyFile = join(dir, 'my.key');
    writeFileSync(keyFile, `${HEX_A}\n`, { mode: 0o600 });
    const expected = keyFromBytes(Buffer.from(HEX_A, 'hex')).id;
    expect(loadKeyring({ dataDir: join(dir, 'x'), env: { TOKENKEEPER_KEY_FILE: keyFile } }).current.id).toBe(
      expected,
    );
    expect(loadKeyring({ dataDir: join(dir, 'x'), env: {}, keyFile }).current.id).toBe(expected);
    expect(readFileSync(keyFile, 'utf8')).toBe(`${HEX_A}\n`);
  });

  it('TOKENKEEPER_KEY wins over an existing key file', () => {
    loadKeyring({ dataDir: dir, env: {} });
    const ring = loadKeyring({ dataDir: dir, env: { TOKENKEEPER_KEY: HEX_B } });
    expect(ring.current.id).toBe(keyFromBytes(Buffer.from(HEX_B, 'hex')).id);
  });

  it('a corrupt key file is an error, not silently replaced', () => {
    writeFileSync(join(dir, 'key'), 'garbage\n', { mode: 0o600 });
    expect(() => loadKeyring({ dataDir: dir, env: {} })).toThrow(
      expect.objectContaining({ code: 'wrong_key' }),
    );
    expect(readFileSync(join(dir, 'key'), 'utf8')).toBe('garbage\n');
  });

  it('a TOKENKEEPER_KEY_FILE (or keyFile) that does not exist is an error, never created with a fresh key', () => {
    const keyFile = join(dir, 'missing.key');
    for (const options of [{ env: { TOKENKEEPER_KEY_FILE: keyFile } }, { env: {}, keyFile }]) {
      expect(() => loadKeyring({ dataDir: join(dir, 'home'), ...options })).toThrow(
        expect.objectContaining({
          code: 'wrong_key',
          message: expect.stringMatching(/missing\.key .*does not exist/),
        }),
      );
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an empty TOKENKEEPER_KEY_FILE counts as unset', () => {
    const ring = loadKeyring({ dataDir: dir, env: { TOKENKEEPER_KEY_FILE: '' } });
    expect(ring.current.id).toBe(loadKeyring({ dataDir: dir, env: {} }).current.id);
  });

  it('records the data dir and key file it created, so a failed open can remove them again', () => {
    const home = join(dir, 'a', 'home');
    const created = new CreatedPaths();
    loadKeyring({ dataDir: home, env: {}, created });
    expect(readdirSync(home).sort()).toEqual(['.tokenkeeper', 'key']);

    created.undo();

    expect(existsSync(join(dir, 'a'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an existing key file is not recorded as created, so undo never deletes it', () => {
    loadKeyring({ dataDir: dir, env: {} });
    const contents = readFileSync(join(dir, 'key'), 'utf8');
    const created = new CreatedPaths();
    loadKeyring({ dataDir: dir, env: {}, created });
    created.undo();
    expect(readFileSync(join(dir, 'key'), 'utf8')).toBe(contents);
  });

  it('refuses <data dir>/key when it is a link, and a data dir holding other files, creating nothing', () => {
    const target = join(dir, 'target');
    writeFileSync(target, `${HEX_A}\n`);
    const home = join(dir, 'home');
    loadKeyring({ dataDir: home, env: { TOKENKEEPER_KEY: HEX_A } }); // nothing to create: TOKENKEEPER_KEY wins
    expect(existsSync(home)).toBe(false);
    writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    expect(() => loadKeyring({ dataDir: dir, env: {} })).toThrow(
      expect.objectContaining({
        code: 'store',
        message: expect.stringMatching(/not a tokenkeeper data dir/),
      }),
    );
    expect(existsSync(join(dir, 'key'))).toBe(false);

    const other = mkdtempSync(join(tmpdir(), 'tokenkeeper-keys-link-'));
    try {
      symlinkSync(target, join(other, 'key'));
      expect(() => loadKeyring({ dataDir: other, env: {} })).toThrow(
        expect.objectContaining({ code: 'store', message: expect.stringMatching(/key is a symbolic link/) }),
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
