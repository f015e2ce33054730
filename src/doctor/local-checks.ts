import { accessSync, constants, lstatSync, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describeError, exitCodes } from '../core/errors.ts';
import { parseKey, type Keyring } from '../crypto/envelope.ts';
import { ensureDataDir } from '../files/owned-path.ts';
import { fail, ok, warn, type CheckResult } from './check.ts';

/** package.json's `engines.node` (e.g. ">=22.13"), read like src/version.ts does (works from src/ and dist/). */
function enginesRange(): string | undefined {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    engines?: { node?: string };
  };
  return manifest.engines?.node;
}

const numbers = (version: string) => version.replace(/^v/, '').split('.').map(Number);

/** Only the ">=X.Y.Z" form package.json uses; anything else is reported rather than guessed at. */
export function satisfiesMinimum(version: string, range: string): boolean | undefined {
  const match = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(range.trim());
  if (!match) return undefined;
  const have = numbers(version);
  const need = numbers(match[1] as string);
  for (let i = 0; i < 3; i++) {
    const a = have[i] ?? 0;
    const b = need[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

export function checkNode(version = process.versions.node): CheckResult {
  const range = enginesRange();
  if (!range) return ok('node', 'node', `Node ${version}`);
  const satisfied = satisfiesMinimum(version, range);
  if (satisfied === undefined) return warn('node', 'node', `Node ${version}; cannot read engines "${range}"`);
  return satisfied
    ? ok('node', 'node', `Node ${version} (tokenkeeper needs ${range})`)
    : fail(
        'node',
        'node',
        `Node ${version} is too old: tokenkeeper needs ${range}`,
        'install a newer Node, or use the install step in the README (it runs the pinned Node)',
        exitCodes.failure,
      );
}

/** lstat that answers undefined for a path that does not exist. */
export function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Why a directory that does not exist yet could not be created, judged from its nearest existing ancestor
 * (undefined when it could be): kernel file systems, a file in the way, or no write permission.
 */
function cannotCreateUnder(dir: string): string | undefined {
  const resolved = resolve(dir);
  if (/^\/(proc|sys)(\/|$)/.test(resolved))
    return `${resolved.split('/').slice(0, 2).join('/')} is a kernel file system`;
  let ancestor = dirname(resolved);
  for (;;) {
    let stats: Stats | undefined;
    try {
      stats = statSync(ancestor);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return `${ancestor}: ${describeError(error)}`;
    }
    if (stats) {
      if (!stats.isDirectory()) return `${ancestor} is not a directory`;
      try {
        accessSync(ancestor, constants.W_OK | constants.X_OK);
        return undefined;
      } catch {
        return `${ancestor} is not writable by this user`;
      }
    }
    const parent = dirname(ancestor);
    if (parent === ancestor) return undefined;
    ancestor = parent;
  }
}

const otherBits = (stats: Stats) => (stats.mode & 0o077) !== 0;
const octal = (stats: Stats) => (stats.mode & 0o777).toString(8).padStart(3, '0');

export function checkDataDir(dataDir: string): CheckResult {
  const title = 'data dir';
  let stats: Stats | undefined;
  try {
    stats = lstatIfExists(dataDir);
  } catch (error) {
    return fail(
      'data-dir',
      title,
      `${dataDir}: ${describeError(error)}`,
      'set TOKENKEEPER_HOME to a directory you own',
      exitCodes.store,
    );
  }
  if (!stats) {
    const blocker = cannotCreateUnder(dataDir);
    return blocker
      ? fail(
          'data-dir',
          title,
          `${dataDir}: not created yet, and cannot be: ${blocker}`,
          'set TOKENKEEPER_HOME to a directory you can write',
          exitCodes.store,
        )
      : ok('data-dir', title, `${dataDir}: not created yet (created 0700 by the first connect or add)`);
  }
  try {
    // tokenkeeper's own rule (a link, a file, a directory of other things is refused), without writing.
    ensureDataDir(dataDir, { create: false });
  } catch (error) {
    return fail(
      'data-dir',
      title,
      describeError(error), // says what to change
      undefined,
      exitCodes.store,
    );
  }
  try {
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch {
    return fail(
      'data-dir',
      title,
      `${dataDir} is not writable by this user`,
      'run as its owner, or set TOKENKEEPER_HOME',
      exitCodes.store,
    );
  }
  if (typeof process.getuid === 'function' && stats.uid !== process.getuid()) {
    return warn(
      'data-dir',
      title,
      `${dataDir} belongs to uid ${stats.uid}, not to this user`,
      'run tokenkeeper as the user that owns it',
    );
  }
  if (otherBits(stats)) {
    return warn(
      'data-dir',
      title,
      `${dataDir} has mode ${octal(stats)}: others can list it`,
      `chmod 700 ${dataDir}`,
    );
  }
  return ok('data-dir', title, `${dataDir} (mode 700)`);
}

export interface KeyCheck {
  result: CheckResult;
  /** The loaded keyring, when there is one. */
  keyring?: Keyring;
  /** Where the key would come from (for the store check's advice). */
  origin: string;
}

/** Finds the key the way loadKeyring does, but never creates the key file. Never prints the key. */
export function checkKey(dataDir: string, env: NodeJS.ProcessEnv): KeyCheck {
  const title = 'key';
  let previous: Keyring['previous'];
  try {
    previous = (env.TOKENKEEPER_PREVIOUS_KEYS ?? '')
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)
      .map((text, index) => parseKey(text, `TOKENKEEPER_PREVIOUS_KEYS entry ${index + 1}`));
  } catch (error) {
    return {
      origin: 'TOKENKEEPER_PREVIOUS_KEYS',
      result: fail(
        'key',
        title,
        describeError(error),
        'fix or unset TOKENKEEPER_PREVIOUS_KEYS',
        exitCodes.store,
      ),
    };
  }
  const withPrevious = previous.length ? ` (+${previous.length} previous)` : '';
  if (env.TOKENKEEPER_KEY) {
    try {
      const current = parseKey(env.TOKENKEEPER_KEY, 'TOKENKEEPER_KEY');
      return {
        origin: 'TOKENKEEPER_KEY',
        keyring: { current, previous },
        result: ok('key', title, `from TOKENKEEPER_KEY: key id ${current.id}${withPrevious}`),
      };
    } catch (error) {
      return {
        origin: 'TOKENKEEPER_KEY',
        result: fail(
          'key',
          title,
          describeError(error),
          "set TOKENKEEPER_KEY to the store's key",
          exitCodes.store,
        ),
      };
    }
  }
  const explicit = env.TOKENKEEPER_KEY_FILE;
  const path = explicit ?? join(dataDir, 'key');
  const origin = `key file ${path}`;
  let stats: Stats | undefined;
  try {
    stats = lstatIfExists(path);
  } catch (error) {
    return {
      origin,
      result: fail('key', title, `${path}: ${describeError(error)}`, undefined, exitCodes.store),
    };
  }
  if (!stats) {
    return {
      origin,
      result: explicit
        ? fail(
            'key',
            title,
            `TOKENKEEPER_KEY_FILE ${path} does not exist`,
            'point TOKENKEEPER_KEY_FILE at your key file, or unset it',
            exitCodes.store,
          )
        : ok('key', title, `${path}: not created yet (created 0600 on first use)`),
    };
  }
  if (!stats.isFile()) {
    const what = stats.isSymbolicLink()
      ? 'a symbolic link; tokenkeeper reads only its own files'
      : 'not a regular file';
    return {
      origin,
      result: fail(
        'key',
        title,
        `${path} is ${what}`,
        'point TOKENKEEPER_KEY_FILE at the key file itself',
        exitCodes.store,
      ),
    };
  }
  let current;
  try {
    current = parseKey(readFileSync(path, 'utf8'), `key file ${path}`);
  } catch (error) {
    return {
      origin,
      result: fail(
        'key',
        title,
        describeError(error),
        'restore the key file from your backup',
        exitCodes.store,
      ),
    };
  }
  const keyring = { current, previous };
  if (stats.isFile() && otherBits(stats)) {
    return {
      origin,
      keyring,
      result: warn(
        'key',
        title,
        `${path} has mode ${octal(stats)}: others can read the key`,
        `chmod 600 ${path}`,
      ),
    };
  }
  return { origin, keyring, result: ok('key', title, `${path}: key id ${current.id}${withPrevious}`) };
}
