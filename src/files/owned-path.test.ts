import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
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
import { fileSystemError } from './fs-errors.ts';
import { CreatedPaths, DATA_DIR_MARKER, ensureDataDir } from './owned-path.ts';
import { openSqliteFile } from './sqlite-file.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-owned-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const refused = (pattern: RegExp) =>
  expect.objectContaining({ code: 'store', message: expect.stringMatching(pattern) });

describe('ensureDataDir', () => {
  it('creates a missing dir (and parents) 0700 with the marker, and records both for undo', () => {
    const home = join(dir, 'a', 'home');
    const created = new CreatedPaths();
    ensureDataDir(home, { created });
    expect(readdirSync(home)).toEqual([DATA_DIR_MARKER]);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
    created.undo();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('adopts an empty dir without changing its mode; with create: false it writes nothing', () => {
    chmodSync(dir, 0o755);
    ensureDataDir(dir, { create: false });
    expect(readdirSync(dir)).toEqual([]);
    ensureDataDir(dir);
    expect(readdirSync(dir)).toEqual([DATA_DIR_MARKER]);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });

  it("accepts a dir with the marker or an earlier tokenkeeper's files, refuses one with only other files", () => {
    writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    expect(() => ensureDataDir(dir)).toThrow(
      refused(/not a tokenkeeper data dir: it holds other files \(notes\.txt\)/),
    );
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    writeFileSync(join(dir, 'tokenkeeper.db'), '');
    expect(() => ensureDataDir(dir)).not.toThrow();
    rmSync(join(dir, 'tokenkeeper.db'));
    writeFileSync(join(dir, DATA_DIR_MARKER), '');
    expect(() => ensureDataDir(dir)).not.toThrow();
  });
});

describe('CreatedPaths.undo', () => {
  it('keeps a directory someone else wrote into meanwhile', () => {
    const created = new CreatedPaths();
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    created.directory(sub);
    writeFileSync(join(sub, 'theirs'), 'x');
    created.undo();
    expect(readFileSync(join(sub, 'theirs'), 'utf8')).toBe('x');
  });
});

describe('openSqliteFile', () => {
  const open = (path: string, created?: CreatedPaths) =>
    openSqliteFile(path, {
      role: 'store',
      ownTable: 'meta',
      timeoutMs: 1_000,
      created,
      setup: (db) => db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)'),
    });

  it('creates a missing file 0600; reopens it; an empty private file (a crashed first run) is accepted', () => {
    const path = join(dir, 'new', 'store.db');
    open(path).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    open(path).close();
    const empty = join(dir, 'empty.db');
    closeSync(openSync(empty, 'wx', 0o600));
    open(empty).close();
  });

  it('refuses an empty file tokenkeeper did not create (not private), leaving it as it was', () => {
    const path = join(dir, 'touched.db');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    expect(() => open(path)).toThrow(refused(/is an empty file that tokenkeeper did not create/));
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(statSync(path).size).toBe(0);
  });

  it('refuses a link among the files SQLite keeps next to the database', () => {
    const path = join(dir, 'store.db');
    open(path).close();
    rmSync(`${path}-wal`, { force: true });
    writeFileSync(join(dir, 'elsewhere'), 'x');
    symlinkSync(join(dir, 'elsewhere'), `${path}-wal`);
    expect(() => open(path)).toThrow(refused(/store\.db-wal is a symbolic link/));
    expect(readFileSync(join(dir, 'elsewhere'), 'utf8')).toBe('x');
  });

  it('a failed setup removes the file it created', () => {
    const path = join(dir, 'store.db');
    expect(() =>
      openSqliteFile(path, {
        role: 'store',
        ownTable: 'meta',
        timeoutMs: 1_000,
        setup: (db) => db.exec('THIS IS NOT SQL'),
      }),
    ).toThrow(refused(/cannot open store .*store\.db/));
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('fileSystemError', () => {
  it('turns a real errno failure into one line naming the role, the path, the reason and the setting', () => {
    let failure: unknown;
    try {
      openSync(dir, 'w');
    } catch (error) {
      failure = error;
    }
    const error = fileSystemError(failure, 'store', dir, 'open');
    expect(error.exitCode).toBe(5);
    expect(error.message).toBe(
      `cannot open store ${dir}: it is a directory; choose another with --store, TOKENKEEPER_STORE or "store" in the config`,
    );
  });
});
