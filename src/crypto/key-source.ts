import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  openSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TokenkeeperError } from '../core/errors.ts';
import { generateKeyText, parseKey, type Keyring } from './envelope.ts';
import { fileSystemError } from '../files/fs-errors.ts';
import { fsyncDir } from '../files/durable-write.ts';
import {
  ensureDataDir,
  existingRegularFile,
  readRegularFile,
  type CreatedPaths,
} from '../files/owned-path.ts';

export interface KeySourceOptions {
  env?: NodeJS.ProcessEnv;
  /** Directory for the generated key file when TOKENKEEPER_KEY is not set. */
  dataDir: string;
  /** Explicit key file path (overrides TOKENKEEPER_KEY_FILE and dataDir/key); must exist. */
  keyFile?: string;
  /** Receives the key file (and data dir) when this call creates them, so a failed open can remove them. */
  created?: CreatedPaths;
}

/** A key file holds one key (64 hex characters or base64, plus a newline); anything much larger is not one. */
const MAX_KEY_FILE_BYTES = 4096;

/**
 * Loads the keyring: TOKENKEEPER_KEY (plus TOKENKEEPER_PREVIOUS_KEYS, comma-separated, during rotation), else the
 * key file named by TOKENKEEPER_KEY_FILE (which must exist: a missing one is an error, never replaced by a fresh
 * key), else <data dir>/key, created with mode 0600 on first run. Creation is race-free across processes: the key
 * is written to a private temp file and hard-linked into place, so two first runs agree on one key.
 */
export function loadKeyring(options: KeySourceOptions): Keyring {
  const env = options.env ?? process.env;
  const previous = (env.TOKENKEEPER_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((text, index) => parseKey(text, `TOKENKEEPER_PREVIOUS_KEYS entry ${index + 1}`));
  if (env.TOKENKEEPER_KEY) return { current: parseKey(env.TOKENKEEPER_KEY, 'TOKENKEEPER_KEY'), previous };
  const named = options.keyFile ?? (env.TOKENKEEPER_KEY_FILE || undefined);
  if (named !== undefined) {
    return { current: parseKey(readNamedKeyFile(named), `key file ${named}`), previous };
  }
  const keyFile = join(options.dataDir, 'key');
  return {
    current: parseKey(readOrCreateKeyFile(options.dataDir, keyFile, options.created), `key file ${keyFile}`),
    previous,
  };
}

/**
 * A key file the user named is only read, never created or changed. It may be a symbolic link (Kubernetes and
 * Docker mount secrets as links); what it points to must be a regular file.
 */
function readNamedKeyFile(path: string): string {
  if (missing(path)) {
    throw new TokenkeeperError(
      'wrong_key',
      `key file ${path} (TOKENKEEPER_KEY_FILE) does not exist: point TOKENKEEPER_KEY_FILE at the key that encrypted the store, or unset it to use <data dir>/key (created on first run)`,
    );
  }
  return readRegularFile(path, 'key file', { maxBytes: MAX_KEY_FILE_BYTES, followLink: true }).toString(
    'utf8',
  );
}

/** Nothing there (a dangling link included); other failures are left to the read, which names them. */
function missing(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function readOrCreateKeyFile(dataDir: string, path: string, created?: CreatedPaths): string {
  ensureDataDir(dataDir, { created });
  if (existingRegularFile(path, 'key file') === undefined) createKeyFile(dataDir, path, created);
  return readRegularFile(path, 'key file', { maxBytes: MAX_KEY_FILE_BYTES }).toString('utf8');
}

function createKeyFile(dir: string, path: string, created?: CreatedPaths): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, `${generateKeyText()}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
      created?.file(path);
      fsyncDir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // another first run won: use its key
    }
  } catch (error) {
    throw fileSystemError(error, 'key file', path, 'create');
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // Never created.
    }
  }
}
