import { unlinkSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { fileSystemError, notOursError, type PathRole } from './fs-errors.ts';
import {
  CreatedPaths,
  createPrivateFile,
  ensureDataDir,
  ensureParentDirectory,
  existingRegularFile,
  readRegularFile,
} from './owned-path.ts';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
/** Files SQLite keeps next to a database; a link among them would make SQLite write through it. */
const SIDE_FILES = ['-wal', '-shm', '-journal'];

export interface SqliteFileOptions {
  role: PathRole;
  /** A table every tokenkeeper database of this kind has: an existing database without it is another program's. */
  ownTable: string;
  /** The data dir; when the file lives directly in it, the data dir rule is applied to its directory first. */
  dataDir?: string;
  timeoutMs: number;
  /** Runs on the open database (pragmas, schema); a failure here still removes a file this call created. */
  setup: (db: DatabaseSync) => void;
  /** Receives what this call created, for a caller that must undo a larger open. */
  created?: CreatedPaths;
}

/**
 * The same judgement as `openSqliteFile` without opening or creating anything (for `doctor`): the file's stats
 * when it is there and may be tokenkeeper's database, undefined when it is missing; refused (thrown) otherwise.
 */
export function checkSqliteFile(path: string, role: PathRole): Stats | undefined {
  const existing = existingRegularFile(path, role);
  for (const suffix of SIDE_FILES) existingRegularFile(`${path}${suffix}`, role);
  if (existing !== undefined) refuseUnlessDatabase(path, role, existing.size, existing.mode, existing.uid);
  return existing;
}

/**
 * Opens a tokenkeeper SQLite file by the rule of owned-path.ts: a missing file is created 0600 (and removed again
 * if the open fails); an existing one must be a regular file starting with the SQLite header (or empty and
 * private, as a crashed first run leaves it) holding no other program's tables. Nothing is chmodded.
 */
export function openSqliteFile(path: string, options: SqliteFileOptions): DatabaseSync {
  const { role } = options;
  if (path === ':memory:') return setUp(new DatabaseSync(path), options);
  const created = new CreatedPaths();
  let db: DatabaseSync | undefined;
  try {
    if (options.dataDir !== undefined && dirname(path) === options.dataDir) {
      ensureDataDir(options.dataDir, { created });
    }
    const existing = existingRegularFile(path, role);
    for (const suffix of SIDE_FILES) existingRegularFile(`${path}${suffix}`, role);
    if (existing === undefined) {
      ensureParentDirectory(path, role, created);
      createPrivateFile(path, role, created);
    } else {
      refuseUnlessDatabase(path, role, existing.size, existing.mode, existing.uid);
    }
    try {
      db = new DatabaseSync(path, { timeout: options.timeoutMs });
    } catch (error) {
      throw fileSystemError(error, role, path, 'open');
    }
    refuseOtherProgramsDatabase(db, path, options);
    try {
      setUp(db, options);
    } catch (error) {
      throw fileSystemError(error, role, path, 'open');
    }
  } catch (error) {
    if (db?.isOpen) db.close();
    if (created.has(path)) for (const suffix of SIDE_FILES) removeQuietly(`${path}${suffix}`);
    created.undo();
    throw error;
  }
  options.created?.adopt(created);
  return db;
}

function setUp(db: DatabaseSync, options: SqliteFileOptions): DatabaseSync {
  options.setup(db);
  return db;
}

function refuseUnlessDatabase(path: string, role: PathRole, size: number, mode: number, uid: number): void {
  if (size === 0) {
    // Empty: tokenkeeper creates the file 0600 before SQLite writes its header; anything else is someone's file.
    if ((mode & 0o077) === 0 && uid === (process.getuid?.() ?? uid)) return;
    throw notOursError(role, path, 'is an empty file that tokenkeeper did not create');
  }
  const head = readRegularFile(path, role, { maxBytes: SQLITE_HEADER.length });
  if (!head.equals(SQLITE_HEADER)) throw notOursError(role, path, 'is not a SQLite database');
}

function refuseOtherProgramsDatabase(db: DatabaseSync, path: string, options: SqliteFileOptions): void {
  let tables: string[];
  try {
    tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
    ).map((row) => row.name);
  } catch (error) {
    throw fileSystemError(error, options.role, path, 'read');
  }
  if (tables.length > 0 && !tables.includes(options.ownTable)) {
    throw notOursError(
      options.role,
      path,
      `is another program's SQLite database (no "${options.ownTable}" table)`,
    );
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Not there: nothing to remove.
  }
}

/**
 * A stamp of what `db`'s file holds, for readers that keep what they read until it moves: `data_version` moves when
 * another connection (another process) commits to the file, `total_changes()` when this one writes (data_version
 * does not see a connection's own commits, and total_changes never goes down).
 */
export function sqliteChangeStamp(prepare: (sql: string) => StatementSync): string {
  const row = prepare(
    'SELECT (SELECT data_version FROM pragma_data_version) AS other, total_changes() AS own',
  ).get() as { other: number; own: number };
  return `${row.other}:${row.own}`;
}
