import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_A_HEX, KEY_B_HEX, newConnection, usePostgres } from './setup.ts';

const pgFixture = usePostgres();
const cliEntry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const homes: string[] = [];

afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

interface DoctorJson {
  checks: { id: string; status: string; message: string }[];
}

/** `tokenkeeper doctor --offline --json` on a PostgreSQL store; returns its exit code and the store check. */
function doctor(
  store: string,
  key = KEY_A_HEX,
): Promise<{ code: number; store?: { status: string; message: string } }> {
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-pgdoctor-'));
  homes.push(home);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliEntry, '--store', store, 'doctor', '--offline', '--json', '--timeout', '5'],
      {
        env: { PATH: process.env.PATH, HOME: home, TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: key },
        cwd: home,
        timeout: 20_000,
      },
      (error, stdout) => {
        const json = JSON.parse(stdout) as DoctorJson;
        resolve({
          code: error ? Number((error as { code?: number }).code ?? 1) : 0,
          store: json.checks.find((check) => check.id === 'store'),
        });
      },
    );
  });
}

describe('tokenkeeper doctor on a PostgreSQL store', () => {
  it('reads it without migrating, checks the key and never prints the password', async () => {
    const url = new URL(pgFixture.storeUrl());
    const schema = url.searchParams.get('schema') as string;
    url.password = 'pw-that-trust-auth-ignores';

    const fresh = await doctor(url.href);
    expect(fresh.store).toMatchObject({
      status: 'ok',
      message: expect.stringMatching(/reachable; tables not created yet/),
    });
    expect(fresh.store?.message).not.toContain('pw-that-trust-auth-ignores');
    expect(await pgFixture.sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).toEqual([]);

    const store = await pgFixture.openStore(url.href);
    await store.insert(newConnection('me'));
    const readable = await doctor(url.href);
    expect(readable.store?.message).toMatch(/: 1 connection, readable with the loaded key$/);

    const wrongKey = await doctor(url.href, KEY_B_HEX);
    expect(wrongKey.code).toBe(5);
    expect(wrongKey.store?.message).toMatch(/encrypted with key [0-9a-f]{12}, not the loaded key/);

    const down = new URL(url.href);
    down.port = '1';
    const unreachable = await doctor(down.href);
    expect(unreachable.code).toBe(5);
    expect(unreachable.store?.message).toMatch(/^cannot read postgres:\/\/.*ECONNREFUSED/);
  });
});
