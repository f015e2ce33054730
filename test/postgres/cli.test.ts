import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { latestVersion, migrations } from '../../src/stores/postgres/migrations/index.ts';
import { KEY_A_HEX, KEY_B_HEX, newConnection, usePostgres } from './setup.ts';

const pgFixture = usePostgres();
const cliEntry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const homes: string[] = [];

afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-pgcli-'));
  homes.push(home);
  const base: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TOKENKEEPER_') && !name.startsWith('PG')) base[name] = value;
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliEntry, ...args],
      { env: { ...base, TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: KEY_A_HEX, ...env }, timeout: 20_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function schemaOf(url: string): string {
  return new URL(url).searchParams.get('schema') as string;
}

describe('tokenkeeper migrate and the CLI on a PostgreSQL store', () => {
  it('migrate applies pending migrations once, reports status, and never prints the password', async () => {
    const url = new URL(pgFixture.storeUrl());
    url.password = 'pw-that-trust-auth-ignores';
    const status = await cli(['--store', url.href, 'migrate', '--status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      schema: schemaOf(url.href),
      applied: [],
      pending: migrations.map(({ version, name }) => ({ version, name })),
    });
    expect(
      await pgFixture.sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemaOf(url.href)]),
    ).toEqual([]);

    const applied = await cli(['--store', url.href, 'migrate'], { TOKENKEEPER_KEY: '' });
    expect(applied.code).toBe(0);
    for (const { version } of migrations) expect(applied.stdout).toMatch(`applied migration ${version}\n`);
    const again = await cli(['--store', url.href, 'migrate']);
    expect(again.stdout).toContain(`up to date at migration ${latestVersion}`);
    for (const output of [status, applied, again]) {
      expect(output.stdout + output.stderr).not.toContain('pw-that-trust-auth-ignores');
    }
  });

  it('migrate on the embedded store says there is nothing to do', async () => {
    const result = await cli(['migrate']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Nothing to migrate: the SQLite store/);
  });

  it('bad URLs, unreachable servers and wrong keys fail with one line and the documented exit code', async () => {
    const badSchema = await cli(['--store', pgFixture.storeUrl({ schema: 'Bad-Name' }), 'migrate']);
    expect(badSchema.code).toBe(2);
    expect(badSchema.stderr.trim().split('\n')).toHaveLength(1);
    expect(badSchema.stderr).toMatch(/schema "Bad-Name" is not a plain lower-case identifier/);

    const unreachable = await cli(['--store', 'postgres://postgres@127.0.0.1:1/none', 'status']);
    expect(unreachable.code).toBe(5);
    expect(unreachable.stderr).toMatch(/ECONNREFUSED/);

    const url = pgFixture.storeUrl();
    await (await pgFixture.openStore(url)).close();
    const wrongKey = await cli(['--store', url, 'status'], { TOKENKEEPER_KEY: KEY_B_HEX });
    expect(wrongKey.code).toBe(5);
    expect(wrongKey.stderr).toMatch(/encrypted with key/);
  });

  it('status and token work on connections in PostgreSQL', async () => {
    const url = pgFixture.storeUrl();
    const store = await pgFixture.openStore(url);
    const alice = await store.insert(newConnection('alice'));
    const status = await cli(['--store', url, 'status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject([
      { name: 'alice', provider: 'fitbit', status: 'active' },
    ]);
    expect(status.stdout).not.toContain(alice.tokens.refreshToken);
    const token = await cli(['--store', url, 'token', 'alice']);
    expect(token.stdout.trim()).toBe(alice.tokens.accessToken);
  });
});
