import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { createHarness, expectSuccess, lines, tempHome, type Harness, type OnFinished } from './harness.ts';
import { cliEntry, type CliResult } from './run-cli.ts';

const KEY_A = '11'.repeat(32);
const KEY_B = '22'.repeat(32);

/**
 * Everything lstat says that a careless open could change (mode, owner, size, mtime), plus the content: a hash
 * of a file, the target of a link, and the same for each entry of a directory.
 */
function fingerprint(path: string): unknown {
  const stats = lstatSync(path);
  const meta = { mode: stats.mode, uid: stats.uid, gid: stats.gid, size: stats.size, mtime: stats.mtimeMs };
  if (stats.isSymbolicLink()) return { ...meta, target: readlinkSync(path) };
  if (stats.isDirectory()) {
    const entries = readdirSync(path).sort();
    return {
      ...meta,
      entries: Object.fromEntries(entries.map((name) => [name, fingerprint(join(path, name))])),
    };
  }
  if (stats.isFile())
    return { ...meta, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
  return meta;
}

/** A place for the paths a test hands to tokenkeeper, outside every data dir. */
function workDir(onFinished: OnFinished): string {
  return tempHome(onFinished);
}

/** A copy of /etc/passwd (never the real one), readable by all as the real one is. */
function passwdCopy(dir: string): string {
  const path = join(dir, 'passwd');
  copyFileSync('/etc/passwd', path);
  chmodSync(path, 0o644);
  return path;
}

/** A directory of someone else's files, 0755 like most directories a user could name by mistake. */
function foreignDirectory(dir: string): string {
  const path = join(dir, 'etc-like');
  mkdirSync(path);
  chmodSync(path, 0o755);
  passwdCopy(path);
  writeFileSync(join(path, 'hosts'), '127.0.0.1 localhost\n');
  return path;
}

function expectRefused(result: CliResult, message: RegExp): void {
  const detail = `tokenkeeper ${result.args.join(' ')}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  expect(result.code, detail).toBe(5);
  expect(lines(result.stderr), detail).toEqual([expect.stringMatching(/^tokenkeeper: error: /)]);
  expect(result.stderr, detail).toMatch(message);
  expect(result.stderr, detail).not.toMatch(/\n\s+at /); // no stack
}

/** Runs `status` with `args` and `env`, expects a one-line refusal, and that `paths` did not change at all. */
async function expectUntouched(
  h: Harness,
  paths: string[],
  run: { args?: string[]; env?: NodeJS.ProcessEnv },
  message: RegExp,
): Promise<CliResult> {
  const before = paths.map(fingerprint);
  const result = await h.cli(['status', ...(run.args ?? [])], { env: run.env });
  expectRefused(result, message);
  expect(paths.map(fingerprint)).toEqual(before);
  return result;
}

describe.concurrent('tokenkeeper never touches a path that is not its own', () => {
  describe('--store', () => {
    it('a regular file that is not a SQLite database: exit 5, one line, mode and bytes unchanged', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const file = passwdCopy(workDir(onTestFinished));
      await expectUntouched(
        h,
        [file],
        { args: ['--store', file] },
        /store .*passwd is not a SQLite database/,
      );
    });

    it('a directory: exit 5, its mode (execute bits too) and entries unchanged', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = foreignDirectory(workDir(onTestFinished));
      await expectUntouched(h, [dir], { args: ['--store', dir] }, /store .*etc-like is a directory/);
      expect(statSync(dir).mode & 0o777).toBe(0o755);
    });

    it('a symbolic link (to a file, dangling, or into /proc): exit 5, the link and its target unchanged', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const target = passwdCopy(dir);
      const links = {
        toFile: join(dir, 'store.db'),
        dangling: join(dir, 'gone.db'),
        toProc: join(dir, 'proc.db'),
      };
      symlinkSync(target, links.toFile);
      symlinkSync(join(dir, 'nothing-here'), links.dangling);
      symlinkSync('/proc/self/status', links.toProc);
      for (const link of Object.values(links)) {
        await expectUntouched(
          h,
          [link, target],
          { args: ['--store', link] },
          /is a symbolic link .* does not follow/,
        );
      }
      expect(existsSync(join(dir, 'nothing-here'))).toBe(false);
    });

    it("a FIFO and another program's SQLite database are refused unchanged", async ({ onTestFinished }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const fifo = join(dir, 'pipe');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      await expectUntouched(h, [fifo], { args: ['--store', fifo] }, /store .*pipe is a named pipe/);

      const foreign = join(dir, 'places.sqlite');
      const db = new DatabaseSync(foreign);
      db.exec("CREATE TABLE bookmarks (url TEXT); INSERT INTO bookmarks VALUES ('https://example.com')");
      db.close();
      chmodSync(foreign, 0o644);
      await expectUntouched(h, [dir], { args: ['--store', foreign] }, /another program's SQLite database/);
    });

    it('a failed open creates nothing: the fresh data dir gets no key file and does not stay behind', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const file = passwdCopy(dir);
      const home = join(dir, 'new-home');
      const run = { args: ['--store', file], env: { TOKENKEEPER_HOME: home } };
      await expectUntouched(h, [file], run, /not a SQLite/);
      expect(existsSync(home)).toBe(false);
      // An empty data dir (the harness home) is emptied again: no marker, no key.
      await expectUntouched(h, [file], { args: ['--store', file] }, /not a SQLite/);
      expect(readdirSync(h.home)).toEqual([]);
    });

    it('a store of another key with no key file: wrong key, exit 5, and no new key file is left', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      expectSuccess(await h.cli(['status'], { env: { TOKENKEEPER_KEY: KEY_A } }));
      const entries = readdirSync(h.home).sort();
      expect(entries).not.toContain('key');
      const store = fingerprint(join(h.home, 'tokenkeeper.db'));

      const result = await h.cli(['status']);

      expectRefused(result, /encrypted with key .* but the loaded key is/);
      expect(readdirSync(h.home).sort()).toEqual(entries);
      expect(fingerprint(join(h.home, 'tokenkeeper.db'))).toEqual(store);
      expectSuccess(await h.cli(['status'], { env: { TOKENKEEPER_KEY: KEY_A } }));
    });
  });

  describe('TOKENKEEPER_HOME (the data dir)', () => {
    it('a regular file, a directory of other files, and a link are refused unchanged', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const file = passwdCopy(dir);
      const foreign = foreignDirectory(dir);
      const link = join(dir, 'home-link');
      symlinkSync(foreign, link);
      await expectUntouched(
        h,
        [file],
        { env: { TOKENKEEPER_HOME: file } },
        /data dir .*passwd is a regular file/,
      );
      await expectUntouched(
        h,
        [foreign],
        { env: { TOKENKEEPER_HOME: foreign } },
        /data dir .*etc-like is not a tokenkeeper data dir: it holds other files \(hosts, passwd\)/,
      );
      await expectUntouched(h, [link, foreign], { env: { TOKENKEEPER_HOME: link } }, /is a symbolic link/);
      expect(statSync(foreign).mode & 0o777).toBe(0o755);
    });

    it('under /proc: refused (not spinning), also through a link', async ({ onTestFinished }) => {
      const h = await createHarness(onTestFinished);
      // Recursive mkdir under /proc used to spin forever: a run cut off by the timeout is not a refusal.
      const result = await h.cli(['status'], { env: { TOKENKEEPER_HOME: '/proc/x' }, timeoutMs: 10_000 });
      expectRefused(result, /data dir \/proc\/x is under \/proc/);

      const dir = workDir(onTestFinished);
      symlinkSync('/proc', join(dir, 'kernel'));
      for (const home of [join(dir, 'kernel', 'x'), '/sys/tokenkeeper']) {
        expectRefused(await h.cli(['status'], { env: { TOKENKEEPER_HOME: home } }), /is under \/(proc|sys)/);
      }
    });

    it('a path through a file or a link loop: one line naming the path, exit 5', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const file = passwdCopy(dir);
      symlinkSync(join(dir, 'loop'), join(dir, 'loop'));
      await expectUntouched(
        h,
        [file],
        { env: { TOKENKEEPER_HOME: join(file, 'home') } },
        /data dir .*passwd\/home: a part of the path is not a directory/,
      );
      expectRefused(
        await h.cli(['status'], { env: { TOKENKEEPER_HOME: join(dir, 'loop', 'home') } }),
        /data dir .*loop\/home: .*symbolic links/,
      );
    });

    it('a new, an empty and an earlier version’s data dir are used; an existing dir keeps its mode', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const fresh = join(dir, 'a', 'b', 'home');
      expectSuccess(await h.cli(['status'], { env: { TOKENKEEPER_HOME: fresh } }));
      expect(statSync(fresh).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
      expect(readdirSync(fresh).sort()).toEqual(['.tokenkeeper', 'key', 'tokenkeeper.db']);
      for (const name of readdirSync(fresh)) expect(statSync(join(fresh, name)).mode & 0o777).toBe(0o600);

      const empty = join(dir, 'empty');
      mkdirSync(empty);
      chmodSync(empty, 0o755);
      expectSuccess(await h.cli(['status'], { env: { TOKENKEEPER_HOME: empty } }));
      expect(statSync(empty).mode & 0o777).toBe(0o755); // used, never chmodded
      expect(readdirSync(empty)).toContain('.tokenkeeper');

      rmSync(join(fresh, '.tokenkeeper')); // as an earlier tokenkeeper left it
      expectSuccess(await h.cli(['status'], { env: { TOKENKEEPER_HOME: fresh } }));
    });

    it.skipIf(process.getuid?.() !== 0)(
      'a data dir this user may not enter: permission denied in one line, exit 5',
      ({ onTestFinished }) => {
        const dir = workDir(onTestFinished); // 0700, owned by root
        const result = spawnSync(process.execPath, [cliEntry, 'status'], {
          env: { PATH: process.env.PATH, HOME: '/nonexistent', TOKENKEEPER_HOME: join(dir, 'home') },
          uid: 65534,
          gid: 65534,
          encoding: 'utf8',
          timeout: 20_000,
        });
        expect(result.status, result.stderr).toBe(5);
        expect(lines(result.stderr)).toEqual([
          expect.stringMatching(/^tokenkeeper: error: cannot inspect data dir .*home: permission denied; /),
        ]);
      },
    );
  });

  describe('TOKENKEEPER_KEY_FILE', () => {
    it('a missing key file is an error (exit 5), never created with a fresh key', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const keyFile = join(workDir(onTestFinished), 'my.key');
      const result = await h.cli(['status'], { env: { TOKENKEEPER_KEY_FILE: keyFile } });
      expectRefused(result, /key file .*my\.key \(TOKENKEEPER_KEY_FILE\) does not exist/);
      expect(existsSync(keyFile)).toBe(false);
      expect(readdirSync(h.home)).toEqual([]);
    });

    it('a directory, a FIFO, a non-key file and a link to one are refused unchanged', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const file = passwdCopy(dir);
      const foreign = foreignDirectory(dir);
      const fifo = join(dir, 'key-pipe');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const link = join(dir, 'key-link');
      symlinkSync(file, link);
      const cases: Array<[string, RegExp]> = [
        [foreign, /key file .*etc-like is a directory/],
        [fifo, /key file .*key-pipe is a named pipe/],
        [file, /key file .*passwd is not a valid key/],
        [link, /key file .*key-link is not a valid key/],
      ];
      for (const [keyFile, message] of cases) {
        await expectUntouched(h, [dir], { env: { TOKENKEEPER_KEY_FILE: keyFile } }, message);
      }
      expect(readdirSync(h.home)).toEqual([]);
    });

    it('an existing key file (or a link to it, as secret mounts are) is read and never changed', async ({
      onTestFinished,
    }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const keyFile = join(dir, 'mounted.key');
      writeFileSync(keyFile, `${KEY_B}\n`);
      chmodSync(keyFile, 0o640);
      const link = join(dir, 'key-link');
      symlinkSync(keyFile, link);
      const before = fingerprint(dir);
      expectSuccess(await h.cli(['status'], { env: { TOKENKEEPER_KEY_FILE: keyFile } }));
      expectSuccess(await h.cli(['status'], { env: { TOKENKEEPER_KEY_FILE: link } }));
      expect(fingerprint(dir)).toEqual(before);
      expect(existsSync(join(h.home, 'key'))).toBe(false);
    });
  });

  describe('the default key file <data dir>/key', () => {
    it('a link or a directory in its place is refused unchanged', async ({ onTestFinished }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const target = passwdCopy(dir);
      symlinkSync(target, join(h.home, 'key'));
      await expectUntouched(h, [h.home, target], {}, /key file .*key is a symbolic link/);
      rmSync(join(h.home, 'key'));
      mkdirSync(join(h.home, 'key'));
      await expectUntouched(h, [h.home], {}, /key file .*key is a directory/);
    });
  });

  describe('the rescue journal <data dir>/rescue', () => {
    it('a link or a file in its place is refused at start, unchanged', async ({ onTestFinished }) => {
      const h = await createHarness(onTestFinished);
      expectSuccess(await h.cli(['status']));
      const dir = workDir(onTestFinished);
      symlinkSync(dir, join(h.home, 'rescue'));
      await expectUntouched(h, [h.home, dir], {}, /rescue journal .*rescue is a symbolic link/);
      rmSync(join(h.home, 'rescue'));
      writeFileSync(join(h.home, 'rescue'), 'not a directory\n');
      await expectUntouched(h, [h.home], {}, /rescue journal .*rescue is a regular file, not a directory/);
    });
  });

  describe('the API key store and the webhook delivery log in the data dir', () => {
    it('a link or a non-database in their place is refused unchanged', async ({ onTestFinished }) => {
      const h = await createHarness(onTestFinished);
      const dir = workDir(onTestFinished);
      const target = passwdCopy(dir);
      symlinkSync(target, join(h.home, 'api-keys.db'));
      const targetBefore = fingerprint(target);
      expectRefused(await h.cli(['api-key', 'list']), /API key store .*api-keys\.db is a symbolic link/);
      rmSync(join(h.home, 'api-keys.db'));
      copyFileSync(target, join(h.home, 'api-keys.db'));
      const copy = fingerprint(join(h.home, 'api-keys.db'));
      expectRefused(
        await h.cli(['api-key', 'list']),
        /API key store .*api-keys\.db is not a SQLite database/,
      );
      expect(fingerprint(join(h.home, 'api-keys.db'))).toEqual(copy);
      rmSync(join(h.home, 'api-keys.db'));

      symlinkSync(target, join(h.home, 'webhook-deliveries.jsonl'));
      expectRefused(await h.cli(['webhook', 'log']), /webhook delivery log .*jsonl is a symbolic link/);
      expect(lstatSync(join(h.home, 'webhook-deliveries.jsonl')).isSymbolicLink()).toBe(true);
      expect(fingerprint(target)).toEqual(targetBefore);
    });
  });
});
