import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveSecretRef } from './secret-ref.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-secret-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveSecretRef', () => {
  it('env:NAME reads the variable', () => {
    expect(resolveSecretRef('env:FITBIT_SECRET', 'client secret', { FITBIT_SECRET: 's3cret' })).toBe(
      's3cret',
    );
  });

  it('env:NAME that is unset or empty is a config error naming the variable', () => {
    for (const env of [{}, { FITBIT_SECRET: '' }]) {
      expect(() => resolveSecretRef('env:FITBIT_SECRET', 'client secret', env)).toThrow(
        expect.objectContaining({
          code: 'config',
          message: expect.stringMatching(/client secret.*FITBIT_SECRET/),
        }),
      );
    }
  });

  it('file:PATH reads the file, trimming the trailing newline', () => {
    const path = join(dir, 'secret.txt');
    writeFileSync(path, '  file-secret-value \n');
    expect(resolveSecretRef(`file:${path}`, 'client secret', {})).toBe('file-secret-value');
  });

  it('file:PATH that is missing, unreadable or empty is a config error naming the path', () => {
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '\n');
    const missing = join(dir, 'missing.txt');
    for (const path of [missing, empty]) {
      expect(() => resolveSecretRef(`file:${path}`, 'client secret', {})).toThrow(
        expect.objectContaining({ code: 'config', message: expect.stringContaining(path) }),
      );
    }
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.txt');
      writeFileSync(locked, 'x');
      chmodSync(locked, 0o000);
      expect(() => resolveSecretRef(`file:${locked}`, 'client secret', {})).toThrow(/locked\.txt/);
    }
  });

  it('a file error does not echo the file contents', () => {
    const path = join(dir, 'dir-not-file');
    writeFileSync(join(dir, 'other'), 'content');
    expect(() => resolveSecretRef(`file:${path}`, 'client secret', {})).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('content') }),
    );
  });

  it('literal:VALUE returns the value as is', () => {
    expect(resolveSecretRef('literal:abc:def', 'client secret', {})).toBe('abc:def');
  });

  it('refuses a bare secret without echoing it', () => {
    const bare = 'my-bare-client-secret';
    try {
      resolveSecretRef(bare, 'client secret', {});
      throw new Error('expected an error');
    } catch (error) {
      expect((error as { code?: string }).code).toBe('config');
      expect((error as Error).message).toMatch(/env:NAME/);
      expect((error as Error).message).not.toContain(bare);
    }
  });

  it('defaults to process.env', () => {
    process.env.TOKENKEEPER_TEST_SECRET_REF = 'from-process-env';
    try {
      expect(resolveSecretRef('env:TOKENKEEPER_TEST_SECRET_REF', 'x')).toBe('from-process-env');
    } finally {
      delete process.env.TOKENKEEPER_TEST_SECRET_REF;
    }
  });
});
