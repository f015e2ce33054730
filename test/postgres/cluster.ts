/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` in a temp dir, a random free port on
 * 127.0.0.1, the unix socket in the same temp dir, run as the `postgres` OS user when we are root (PostgreSQL
 * refuses to run as root). Never a shared server. `stop()` shuts it down (`pg_ctl stop -m immediate`) and removes
 * the directory; a process exit hook does the same if a test run dies before its afterAll.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly adminUrl: string;
  readonly port: number;
  readonly dir: string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** The server log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /**
   * Keep fsync and synchronous commits on, as in production (benchmarks). Off by default: the tests' cluster
   * is thrown away, and durability of PostgreSQL itself is not what they test.
   */
  durable?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

const BIN_DIRS = ['/usr/local/bin', ...listPostgresBinDirs()];

export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const initdb = findBinary('initdb');
  const pgCtl = findBinary('pg_ctl');
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (asPostgres) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const exec = (file: string, args: string[]) =>
    asPostgres ? run('runuser', ['-u', 'postgres', '--', file, ...args]) : run(file, args);

  await exec(initdb, [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-locale',
    '--no-sync',
  ]);
  const port = await freePort();
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${dir}'`,
    max_connections: 200,
    ...(options.durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...options.settings,
  };
  const serverOptions = Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
  const stopSync = () => {
    try {
      execFileSync(
        asPostgres ? 'runuser' : pgCtl,
        [...(asPostgres ? ['-u', 'postgres', '--', pgCtl] : []), 'stop', '-D', dataDir, '-m', 'immediate'],
        { stdio: 'ignore' },
      );
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await exec(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions]);
  } catch (error) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    stopSync();
    throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${log}`, { cause: error });
  }
  process.once('exit', stopSync);
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    adminUrl,
    port,
    dir,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off('exit', stopSync);
      try {
        await exec(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Whether the PostgreSQL server binaries are installed (tests say so plainly instead of failing obscurely). */
export function postgresInstalled(): boolean {
  try {
    findBinary('initdb');
    findBinary('pg_ctl');
    return true;
  } catch {
    return false;
  }
}

function findBinary(name: string): string {
  for (const dir of BIN_DIRS) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(
    `PostgreSQL binary "${name}" not found in ${BIN_DIRS.join(', ')}: install the postgresql server package`,
  );
}

function listPostgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  try {
    return readdirSync(root)
      .filter((version) => /^\d+$/.test(version))
      .sort((a, b) => Number(b) - Number(a))
      .map((version) => join(root, version, 'bin'));
  } catch {
    return [];
  }
}

function postgresUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error('running as root but there is no "postgres" OS user to run PostgreSQL as');
  }
  return { uid, gid };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
