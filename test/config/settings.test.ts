import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configDefaults } from '../../src/config/defaults.ts';
import { resolveSettings } from '../../src/config/settings.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-settings-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveSettings', () => {
  it('without a config: every key at its default; nothing chooses a log level', () => {
    const settings = resolveSettings({ cwd: dir, env: { TOKENKEEPER_HOME: dir } });
    expect(settings).toMatchObject({
      dataDir: dir,
      store: join(dir, 'tokenkeeper.db'),
      refresh: configDefaults.refresh,
      connect: configDefaults.connect,
      daemon: configDefaults.daemon,
      server: configDefaults.server,
    });
    expect(settings.logLevel).toBeUndefined();
    expect(settings.path).toBeUndefined();
  });

  it('flags over the environment over the file over the defaults', () => {
    const path = join(dir, 'tokenkeeper.json');
    writeFileSync(path, JSON.stringify({ logLevel: 'warn', connect: { port: 9001, timeoutSeconds: 60 } }));
    const fromFile = resolveSettings({ cwd: dir, env: {} });
    expect(fromFile).toMatchObject({ path, logLevel: 'warn', connect: { port: 9001, timeoutSeconds: 60 } });
    expect(resolveSettings({ cwd: dir, env: { TOKENKEEPER_LOG_LEVEL: 'debug' } }).logLevel).toBe('debug');
    const flagged = resolveSettings({
      cwd: dir,
      env: { TOKENKEEPER_LOG_LEVEL: 'debug' },
      logLevel: 'error',
      flags: { connect: { port: 0 } },
    });
    expect(flagged).toMatchObject({ logLevel: 'error', connect: { port: 0, timeoutSeconds: 60 } });
  });

  it('an inline config is checked like a file, and resolved the same way', () => {
    expect(() => resolveSettings({ config: { refresh: { maxAttempts: 0 } } as never, env: {} })).toThrow(
      /config passed to createKeeper: refresh\.maxAttempts/,
    );
    const inline = resolveSettings({ config: { refresh: { maxAttempts: 5 } }, cwd: dir, env: {} });
    expect(inline.refresh).toEqual({ ...configDefaults.refresh, maxAttempts: 5 });
  });

  it('is frozen, down to the config it holds', () => {
    const settings = resolveSettings({ config: { providers: { fitbit: { scopes: ['sleep'] } } }, env: {} });
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.refresh)).toBe(true);
    expect(Object.isFrozen(settings.config.providers?.fitbit?.scopes)).toBe(true);
  });
});
