import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenkeeperError } from '../core/errors.ts';
import { defaultDataDir, loadConfig } from './load.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, contents: string): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  return path;
}

function configError(work: () => unknown): TokenkeeperError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TokenkeeperError);
    expect((error as TokenkeeperError).code).toBe('config');
    return error as TokenkeeperError;
  }
  throw new Error('expected a config error');
}

describe('loadConfig', () => {
  it('without a file: empty config, data dir from TOKENKEEPER_HOME, store inside it', () => {
    const home = join(dir, 'home');
    const loaded = loadConfig({ cwd: dir, env: { TOKENKEEPER_HOME: home } });
    expect(loaded.config).toEqual({});
    expect(loaded.path).toBeUndefined();
    expect(loaded.dataDir).toBe(home);
    expect(loaded.store).toBe(join(home, 'tokenkeeper.db'));
  });

  it('defaults the data dir to the platform location (XDG_DATA_HOME on Linux)', () => {
    const loaded = loadConfig({ cwd: dir, env: { XDG_DATA_HOME: join(dir, 'xdg') } });
    expect(loaded.dataDir).toBe(defaultDataDir({ XDG_DATA_HOME: join(dir, 'xdg') }));
    if (process.platform === 'linux') expect(loaded.dataDir).toBe(join(dir, 'xdg', 'tokenkeeper'));
  });

  it('reads ./tokenkeeper.json from the working directory when present', () => {
    const path = write('tokenkeeper.json', JSON.stringify({ refresh: { marginSeconds: 600 } }));
    const loaded = loadConfig({ cwd: dir, env: { TOKENKEEPER_HOME: dir } });
    expect(loaded.path).toBe(path);
    expect(loaded.config.refresh?.marginSeconds).toBe(600);
  });

  it('reads an explicit path (relative to cwd) and TOKENKEEPER_CONFIG; --config wins', () => {
    write('a.json', JSON.stringify({ logLevel: 'warn' }));
    write('b.json', JSON.stringify({ logLevel: 'error' }));
    expect(loadConfig({ cwd: dir, path: 'a.json', env: {} }).config.logLevel).toBe('warn');
    expect(loadConfig({ cwd: dir, env: { TOKENKEEPER_CONFIG: 'b.json' } }).config.logLevel).toBe('error');
    expect(
      loadConfig({ cwd: dir, path: 'a.json', env: { TOKENKEEPER_CONFIG: 'b.json' } }).config.logLevel,
    ).toBe('warn');
  });

  it('an explicit config file that does not exist is an error naming it', () => {
    const error = configError(() => loadConfig({ cwd: dir, path: 'missing.json', env: {} }));
    expect(error.message).toContain(join(dir, 'missing.json'));
  });

  it('invalid JSON: an error naming the file', () => {
    const path = write('bad.json', '{ "refresh": { "marginSeconds": 60, } }');
    const error = configError(() => loadConfig({ cwd: dir, path, env: {} }));
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/not valid JSON/);
  });

  // BUG: src/config/load.ts parseConfigFile embeds JSON.parse's message, which quotes the offending source text
  // verbatim — newlines included — so a multi-line config file yields a multi-line error (and echoes file content).
  it('invalid JSON in a multi-line file: the error is still one line', () => {
    // A value left out: V8 answers `Unexpected token '}', "{\n  "logLevel": \n}\n" is not valid JSON`.
    const path = write('bad.json', '{\n  "logLevel": \n}\n');
    const error = configError(() => loadConfig({ cwd: dir, path, env: {} }));
    expect(error.message).toContain(path);
    expect(error.message).not.toContain('\n');
  });

  it('an unknown key is refused with its name and the file', () => {
    const path = write('c.json', JSON.stringify({ refresh: { marginSecs: 60 } }));
    const error = configError(() => loadConfig({ cwd: dir, path, env: {} }));
    expect(error.message).toContain(path);
    expect(error.message).toContain('marginSecs');
    expect(error.message).toContain('refresh');
    expect(error.message).not.toContain('\n');

    const top = configError(() =>
      loadConfig({ cwd: dir, path: write('d.json', JSON.stringify({ stroe: 'x.db' })), env: {} }),
    );
    expect(top.message).toContain('stroe');
  });

  it('an out-of-range value names the setting', () => {
    const path = write('e.json', JSON.stringify({ refresh: { maxAttempts: 0 } }));
    const error = configError(() => loadConfig({ cwd: dir, path, env: {} }));
    expect(error.message).toContain('refresh.maxAttempts');
    expect(error.message).not.toContain('\n');
  });

  it('TOKENKEEPER_HOME and TOKENKEEPER_STORE override the file; the --store option overrides both', () => {
    const path = write(
      'f.json',
      JSON.stringify({ dataDir: join(dir, 'from-file'), store: join(dir, 'file.db') }),
    );
    const fromFile = loadConfig({ cwd: dir, path, env: {} });
    expect(fromFile.dataDir).toBe(join(dir, 'from-file'));
    expect(fromFile.store).toBe(join(dir, 'file.db'));

    const fromEnv = loadConfig({
      cwd: dir,
      path,
      env: { TOKENKEEPER_HOME: join(dir, 'env-home'), TOKENKEEPER_STORE: join(dir, 'env.db') },
    });
    expect(fromEnv.dataDir).toBe(join(dir, 'env-home'));
    expect(fromEnv.store).toBe(join(dir, 'env.db'));

    const fromOption = loadConfig({
      cwd: dir,
      path,
      store: join(dir, 'option.db'),
      env: { TOKENKEEPER_STORE: join(dir, 'env.db') },
    });
    expect(fromOption.store).toBe(join(dir, 'option.db'));
  });

  it('resolves relative paths against cwd and strips a sqlite: prefix', () => {
    mkdirSync(join(dir, 'sub'));
    const loaded = loadConfig({
      cwd: dir,
      env: { TOKENKEEPER_HOME: 'sub/home', TOKENKEEPER_STORE: 'sqlite:data/x.db' },
    });
    expect(loaded.dataDir).toBe(join(dir, 'sub', 'home'));
    expect(loaded.store).toBe(join(dir, 'data', 'x.db'));
    expect(loadConfig({ cwd: dir, env: { TOKENKEEPER_STORE: `sqlite://${join(dir, 'y.db')}` } }).store).toBe(
      join(dir, 'y.db'),
    );
  });

  it('TOKENKEEPER_LOG_LEVEL overrides logLevel and must be a known level', () => {
    write('tokenkeeper.json', JSON.stringify({ logLevel: 'info' }));
    expect(loadConfig({ cwd: dir, env: { TOKENKEEPER_LOG_LEVEL: 'debug' } }).config.logLevel).toBe('debug');
    const error = configError(() => loadConfig({ cwd: dir, env: { TOKENKEEPER_LOG_LEVEL: 'loud' } }));
    expect(error.message).toContain('TOKENKEEPER_LOG_LEVEL');
  });

  it('accepts a full valid config', () => {
    const config = {
      store: 'tk.db',
      dataDir: 'data',
      logLevel: 'info',
      refresh: {
        marginSeconds: 900,
        marginRatio: 0.1,
        defaultLifetimeSeconds: 3600,
        timeoutSeconds: 15,
        maxAttempts: 3,
        maxResponseBytes: 65_536,
        lockTtlSeconds: 60,
        lockWaitSeconds: 120,
      },
      providers: {
        fitbit: { tokenUrl: 'http://127.0.0.1:9/oauth2/token', clientId: 'abc', clientSecret: 'env:FITBIT' },
        mycorp: { extends: 'oauth2', tokenUrl: 'https://auth.example.com/token', clientAuth: 'body' },
      },
    };
    const loaded = loadConfig({ cwd: dir, path: write('full.json', JSON.stringify(config)), env: {} });
    expect(loaded.config).toEqual(config);
  });
});
