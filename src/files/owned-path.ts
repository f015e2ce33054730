import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileSystemError, notOursError, type PathRole } from './fs-errors.ts';

/**
 * The one rule for "is this path tokenkeeper's", used by every opener of a tokenkeeper file or directory:
 * - nothing under /proc or /sys (kernel file systems: creating there fails or never ends);
 * - never a symbolic link or a special file (device, FIFO, socket): checked with lstat, opened with O_NOFOLLOW;
 * - a missing path is created (0600 files, 0700 directories); an existing one is never chmodded or rewritten
 *   unless it already is tokenkeeper's: a data dir is tokenkeeper's when it holds the marker file, files of an
 *   earlier tokenkeeper, or nothing at all; what a file must look like is the caller's test (e.g. a SQLite header).
 */

/** Written into every data dir tokenkeeper creates or adopts (an empty directory). */
export const DATA_DIR_MARKER = '.tokenkeeper';

/** Names a data dir of an earlier tokenkeeper (before the marker) holds; the config file counts too. */
const KNOWN_DATA_DIR_ENTRIES = new Set([
  'tokenkeeper.db',
  'key',
  'rescue',
  'api-keys.db',
  'webhook-deliveries.jsonl',
  'tokenkeeper.json',
]);

const KERNEL_FILE_SYSTEMS = ['/proc', '/sys'];

/** What one open created, so that a failed open removes it again and leaves nothing half-written. */
export class CreatedPaths {
  private readonly paths: Array<{ path: string; directory: boolean }> = [];

  file(path: string): void {
    this.paths.push({ path, directory: false });
  }

  directory(path: string): void {
    this.paths.push({ path, directory: true });
  }

  has(path: string): boolean {
    return this.paths.some((entry) => entry.path === path);
  }

  /** Takes over what another record holds (an opener that succeeded hands its creations to its caller). */
  adopt(other: CreatedPaths): void {
    this.paths.push(...other.paths.splice(0));
  }

  /** Removes everything recorded, newest first; a directory only if it is empty by then. Never throws. */
  undo(): void {
    for (const { path, directory } of this.paths.splice(0).reverse()) {
      try {
        if (directory) rmdirSync(path);
        else unlinkSync(path);
      } catch {
        // Best effort: a directory someone else wrote into meanwhile stays.
      }
    }
  }
}

/** The entry at `path` (lstat: a link is reported as a link), or undefined when nothing is there. */
export function entryAt(path: string, role: PathRole): Stats | undefined {
  refuseKernelFileSystem(path, role);
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileSystemError(error, role, path, 'inspect');
  }
}

/**
 * Makes sure `dir` is a tokenkeeper data dir: creates it (and missing parents, 0700) with the marker, adopts an
 * empty directory by writing the marker, accepts one holding the marker or an earlier tokenkeeper's files, and
 * refuses anything else without touching it. With `create: false` nothing is written (a missing dir is fine).
 */
export function ensureDataDir(dir: string, options: { create?: boolean; created?: CreatedPaths } = {}): void {
  const create = options.create ?? true;
  const entry = entryAt(dir, 'data dir');
  if (entry === undefined) {
    if (!create) return;
    createDirectories(dir, 'data dir', options.created);
    writeMarker(dir, options.created);
    return;
  }
  refuseUnlessKind(entry, 'directory', 'data dir', dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw fileSystemError(error, 'data dir', dir, 'read');
  }
  if (names.includes(DATA_DIR_MARKER) || names.some((name) => KNOWN_DATA_DIR_ENTRIES.has(name))) return;
  if (names.length === 0) {
    if (create) writeMarker(dir, options.created);
    return;
  }
  const shown = names.sort().slice(0, 3).join(', ');
  throw notOursError(
    'data dir',
    dir,
    `is not a tokenkeeper data dir: it holds other files (${shown}${names.length > 3 ? ', …' : ''}) and no ${DATA_DIR_MARKER} marker`,
  );
}

/** A directory of tokenkeeper's own inside an accepted data dir (the rescue journal): created 0700 if missing. */
export function ensureOwnSubdirectory(dir: string, role: PathRole, created?: CreatedPaths): void {
  const entry = entryAt(dir, role);
  if (entry !== undefined) return refuseUnlessKind(entry, 'directory', role, dir);
  try {
    mkdirSync(dir, { mode: 0o700 });
    created?.directory(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fileSystemError(error, role, dir, 'create');
    refuseUnlessKind(lstatSync(dir), 'directory', role, dir);
  }
}

/** Refuses an existing `dir` that is not a plain directory (a link, a file, a device); a missing one is fine. */
export function checkOwnSubdirectory(dir: string, role: PathRole): void {
  const entry = entryAt(dir, role);
  if (entry !== undefined) refuseUnlessKind(entry, 'directory', role, dir);
}

/**
 * The parent directory of a file the user named (a store path outside the data dir): created with its missing
 * parents (0700) when absent; an existing one is used as it is (it is not ours to change).
 */
export function ensureParentDirectory(path: string, role: PathRole, created?: CreatedPaths): void {
  const parent = dirname(path);
  refuseKernelFileSystem(parent, role);
  createDirectories(parent, role, created);
}

/**
 * The regular file at `path` (lstat), or undefined when nothing is there. A link, a directory or a special
 * file is refused. Whether its content is tokenkeeper's is for the caller to check (e.g. a SQLite header).
 */
export function existingRegularFile(path: string, role: PathRole): Stats | undefined {
  const entry = entryAt(path, role);
  if (entry !== undefined) refuseUnlessKind(entry, 'file', role, path);
  return entry;
}

/** Creates a new 0600 file; fails (mapped) if anything exists there already. */
export function createPrivateFile(path: string, role: PathRole, created?: CreatedPaths): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
    created?.file(path);
  } catch (error) {
    throw fileSystemError(error, role, path, 'create');
  }
}

/**
 * Reads at most `maxBytes` of a regular file without blocking on a FIFO or device and, unless
 * `followLink`, without following a link (O_NOFOLLOW). What is read is checked on the opened descriptor.
 */
export function readRegularFile(
  path: string,
  role: PathRole,
  options: { maxBytes: number; followLink?: boolean },
): Buffer {
  refuseKernelFileSystem(path, role);
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (options.followLink ? 0 : constants.O_NOFOLLOW);
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw notOursError(role, path, describeEntry(lstatSync(path), path));
    }
    throw fileSystemError(error, role, path, 'open');
  }
  try {
    const stats = fstatSync(fd);
    refuseUnlessKind(stats, 'file', role, path);
    const buffer = Buffer.alloc(Math.min(stats.size, options.maxBytes));
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, length);
      if (read === 0) break;
      length += read;
    }
    return buffer.subarray(0, length);
  } catch (error) {
    throw fileSystemError(error, role, path, 'read');
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses paths on kernel file systems, by name and by where the nearest existing ancestor really is (the entry
 * itself is not resolved: a link there is refused as a link).
 */
function refuseKernelFileSystem(path: string, role: PathRole): void {
  const absolute = resolve(path);
  let real = absolute;
  for (let ancestor = dirname(absolute); ; ancestor = dirname(ancestor)) {
    try {
      real = join(realpathSync(ancestor), absolute.slice(ancestor.length));
      break;
    } catch {
      if (dirname(ancestor) === ancestor) break;
    }
  }
  for (const candidate of [absolute, real]) {
    const root = KERNEL_FILE_SYSTEMS.find((dir) => candidate === dir || candidate.startsWith(`${dir}${sep}`));
    if (root !== undefined) {
      throw notOursError(
        role,
        path,
        `is under ${root}, a kernel file system where tokenkeeper keeps no files`,
      );
    }
  }
}

/**
 * mkdir of each missing directory (0700), from the nearest existing ancestor down: never a recursive mkdir, which
 * retries forever where a parent exists but refuses children (/proc).
 */
function createDirectories(dir: string, role: PathRole, created?: CreatedPaths): void {
  const missing: string[] = [];
  for (let current = resolve(dir); ; current = dirname(current)) {
    let stats: Stats;
    try {
      stats = statSync(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(current) !== current && lstatOrUndefined(current) === undefined) {
        missing.unshift(current);
        continue;
      }
      throw fileSystemError(error, role, dir, 'create');
    }
    if (!stats.isDirectory()) {
      throw fileSystemError(
        Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }),
        role,
        dir,
        'create',
      );
    }
    break;
  }
  for (const path of missing) {
    try {
      mkdirSync(path, { mode: 0o700 });
      created?.directory(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw fileSystemError(error, role, dir, 'create');
      refuseUnlessKind(lstatSync(path), 'directory', role, path); // another process made it meanwhile
    }
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function writeMarker(dir: string, created?: CreatedPaths): void {
  const path = join(dir, DATA_DIR_MARKER);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return; // another process adopted it meanwhile
    throw fileSystemError(error, 'data dir', dir, 'mark');
  }
  created?.file(path);
  try {
    writeSync(fd, "This directory holds tokenkeeper's data (key, store, rescue journal).\n");
  } catch (error) {
    throw fileSystemError(error, 'data dir', dir, 'mark');
  } finally {
    closeSync(fd);
  }
}

function refuseUnlessKind(stats: Stats, kind: 'file' | 'directory', role: PathRole, path: string): void {
  if (kind === 'file' ? stats.isFile() : stats.isDirectory()) return;
  const what = describeEntry(stats, path);
  const expected = kind === 'file' ? 'regular file' : 'directory';
  throw notOursError(role, path, stats.isSymbolicLink() ? what : `${what}, not a ${expected}`);
}

function describeEntry(stats: Stats, path: string): string {
  if (stats.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(path);
    } catch {
      // Only for the message.
    }
    return `is a symbolic link (to ${target}), which tokenkeeper does not follow`;
  }
  if (stats.isDirectory()) return 'is a directory';
  if (stats.isFIFO()) return 'is a named pipe';
  if (stats.isSocket()) return 'is a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'is a device';
  return 'is a regular file';
}
