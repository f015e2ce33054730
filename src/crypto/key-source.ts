import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TokenkeeperError } from '../core/errors.ts';
import { generateKeyText, parseKey, type Keyring } from './envelope.ts';
import { ensurePrivateDir, fsyncDir } from '../stores/files.ts';

export interface KeySourceOptions {
  env?: NodeJS.ProcessEnv;
  /** Directory for the generated key file when TOKENKEEPER_KEY is not set. */
  dataDir: string;
  /** Explicit key file path (overrides dataDir/key). */
  keyFile?: string;
}

/**
 * Loads the keyring: TOKENKEEPER_KEY (plus TOKENKEEPER_PREVIOUS_KEYS, comma-separated, during rotation), else a
 * key file, created with mode 0600 on first run. Creation is race-free across processes: the key is written to a
 * private temp file and hard-linked into place, so two first runs agree on one key.
 */
export function loadKeyring(options: KeySourceOptions): Keyring {
  const env = options.env ?? process.env;
  const previous = (env.TOKENKEEPER_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((text, index) => parseKey(text, `TOKENKEEPER_PREVIOUS_KEYS entry ${index + 1}`));
  if (env.TOKENKEEPER_KEY) return { current: parseKey(env.TOKENKEEPER_KEY, 'TOKENKEEPER_KEY'), previous };
  const keyFile = options.keyFile ?? env.TOKENKEEPER_KEY_FILE ?? join(options.dataDir, 'key');
  return { current: parseKey(readOrCreateKeyFile(keyFile), `key file ${keyFile}`), previous };
}

function readOrCreateKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TokenkeeperError('wrong_key', `cannot read key file ${path}: ${(error as Error).message}`);
    }
  }
  const dir = join(path, '..');
  ensurePrivateDir(dir);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${generateKeyText()}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    fsyncDir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temp);
  }
  return readFileSync(path, 'utf8');
}
