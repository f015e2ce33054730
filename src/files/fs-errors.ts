import { TokenkeeperError } from '../core/errors.ts';

/** What a tokenkeeper path is; every message names it, so the user knows which setting to change. */
export type PathRole =
  'store' | 'data dir' | 'key file' | 'rescue journal' | 'API key store' | 'webhook delivery log';

const whereToChoose: Record<PathRole, string> = {
  store: 'choose another with --store, TOKENKEEPER_STORE or "store" in the config',
  'data dir': 'choose another with TOKENKEEPER_HOME or "dataDir" in the config',
  'key file':
    'set TOKENKEEPER_KEY_FILE to a tokenkeeper key file, set TOKENKEEPER_KEY, or choose another data dir with TOKENKEEPER_HOME',
  'rescue journal':
    'it lives in the data dir: choose another with TOKENKEEPER_HOME or "dataDir" in the config',
  'API key store':
    'it lives in the data dir: choose another with TOKENKEEPER_HOME or "dataDir" in the config',
  'webhook delivery log':
    'it lives in the data dir: choose another with TOKENKEEPER_HOME or "dataDir" in the config',
};

/** Why a file-system call failed and what to do about it, by errno code. */
const errnoMessages: Record<string, { reason: string; fix?: string }> = {
  EACCES: { reason: 'permission denied', fix: 'give this user access to it, or' },
  EPERM: { reason: 'operation not permitted', fix: 'give this user access to it, or' },
  EROFS: { reason: 'read-only file system', fix: 'make it writable, or' },
  ENOSPC: { reason: 'no space left on the device', fix: 'free some space and retry, or' },
  EDQUOT: { reason: 'disk quota exceeded', fix: 'free some space and retry, or' },
  EFBIG: { reason: 'file too large', fix: 'free some space and retry, or' },
  ENOTDIR: { reason: 'a part of the path is not a directory' },
  ENOENT: { reason: 'a part of the path does not exist' },
  ELOOP: { reason: 'it is (or passes through too many) symbolic links, which tokenkeeper does not follow' },
  EEXIST: { reason: 'something else appeared at that path meanwhile' },
  EISDIR: { reason: 'it is a directory' },
  ENAMETOOLONG: { reason: 'the path is too long' },
  EMFILE: { reason: 'too many open files', fix: 'raise the open-file limit (ulimit -n), or' },
  ENFILE: { reason: 'too many open files on this system', fix: 'close some programs and retry, or' },
  EIO: { reason: 'input/output error', fix: 'check the disk, or' },
  EBUSY: { reason: 'the device or file is busy', fix: 'retry later, or' },
  EINVAL: { reason: 'the file system does not support this operation' },
  ENXIO: { reason: 'no such device' },
  ENODEV: { reason: 'no such device' },
  EXDEV: { reason: 'it is on another file system' },
};

/** SQLite's primary result codes (errcode & 0xff) that say something about the file. */
const sqliteMessages: Record<number, { reason: string; fix?: string }> = {
  3: errnoMessages.EPERM!,
  5: { reason: 'another process keeps it locked', fix: 'stop that process or retry, or' },
  8: { reason: 'it is read-only', fix: 'make it writable, or' },
  10: { reason: 'input/output error', fix: 'check the disk, or' },
  11: { reason: 'the database file is damaged', fix: 'restore it from a backup, or' },
  13: errnoMessages.ENOSPC!,
  14: { reason: 'it cannot be opened (missing directory or no permission)', fix: 'check the path, or' },
  23: errnoMessages.EACCES!,
  26: { reason: 'it is not a SQLite database' },
};

/**
 * The one place a file-system or SQLite failure becomes a message: one line naming the path, its role, what went
 * wrong and what to do. Always a store error (exit 5).
 */
export function fileSystemError(
  error: unknown,
  role: PathRole,
  path: string,
  action: string,
): TokenkeeperError {
  if (error instanceof TokenkeeperError) return error;
  const known = knownFailure(error);
  const reason = known?.reason ?? firstLine(error);
  const fix = known?.fix ? `${known.fix} ${whereToChoose[role]}` : whereToChoose[role];
  return new TokenkeeperError('store', `cannot ${action} ${role} ${path}: ${reason}; ${fix}`, {
    cause: error,
  });
}

/** A path that exists but is not tokenkeeper's: refused without touching it. */
export function notOursError(role: PathRole, path: string, what: string): TokenkeeperError {
  return new TokenkeeperError(
    'store',
    `${role} ${path} ${what}: refusing to use it (left untouched); ${whereToChoose[role]}`,
  );
}

function knownFailure(error: unknown): { reason: string; fix?: string } | undefined {
  const failure = error as { code?: unknown; errcode?: unknown };
  if (failure?.code === 'ERR_SQLITE_ERROR' && typeof failure.errcode === 'number') {
    return sqliteMessages[failure.errcode & 0xff];
  }
  return typeof failure?.code === 'string' ? errnoMessages[failure.code] : undefined;
}

function firstLine(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
  const named = typeof code === 'string' && !code.startsWith('ERR_') && !message.includes(code);
  return named ? `${code}: ${message}` : message;
}
