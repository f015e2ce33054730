import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKeeper } from '../../src/keeper/keeper.ts';
import { KEY_A, KEY_B, fitbitHarness, rejection, stored } from './setup.ts';

const CLIENT_SECRET = 'cs-engine-test-7f3a9c2e51d84b06';

function storeBytes(dir: string): Buffer {
  const db = join(dir, 'tokenkeeper.db');
  const parts = [readFileSync(db)];
  for (const suffix of ['-wal', '-shm', '-journal']) {
    if (existsSync(db + suffix)) parts.push(readFileSync(db + suffix));
  }
  return Buffer.concat(parts);
}

describe('secrets at rest', () => {
  it('the SQLite file and its WAL hold no token or client secret in plaintext; store and key file are 0600', async () => {
    const harness = await fitbitHarness({ sim: { clientSecret: CLIENT_SECRET } });
    // No TOKENKEEPER_KEY: the key file is created on first run.
    const env = { TOKENKEEPER_KEY: undefined };
    const keeper = await harness.openKeeper({ env });
    const { name, grant } = await harness.addConnection(keeper);
    await keeper.refresh(name);
    const saved = await stored(keeper, name);
    const secrets = [
      grant.refreshToken,
      grant.accessToken,
      saved.tokens.refreshToken as string,
      saved.tokens.accessToken as string,
      CLIENT_SECRET,
    ];

    // While open (WAL not yet checkpointed) and after closing.
    const whileOpen = storeBytes(harness.dir);
    const db = join(harness.dir, 'tokenkeeper.db');
    expect(existsSync(`${db}-wal`)).toBe(true);
    for (const file of [db, `${db}-wal`, `${db}-shm`]) {
      if (existsSync(file)) expect(statSync(file).mode & 0o777).toBe(0o600);
    }
    await keeper.close();
    const afterClose = storeBytes(harness.dir);
    for (const bytes of [whileOpen, afterClose]) {
      for (const secret of secrets) expect(bytes.includes(secret)).toBe(false);
    }
    // The scan does see plaintext that is stored unencrypted (so it would see a token too).
    expect(afterClose.includes(saved.tokens.providerUserId as string)).toBe(true);

    expect(statSync(db).mode & 0o777).toBe(0o600);
    const keyFile = join(harness.dir, 'key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    // The key file is reused: a second keeper reads what the first wrote.
    const reopened = await harness.openKeeper({ env });
    expect((await stored(reopened, name)).tokens.refreshToken).toBe(saved.tokens.refreshToken);
  });

  it('a store created with key A refuses key B (wrong_key) without changing the file; B with previous key A opens it', async () => {
    const harness = await fitbitHarness();
    const first = await harness.openKeeper({ env: { TOKENKEEPER_KEY: KEY_A } });
    const { name, grant } = await harness.addConnection(first);
    await first.close();
    const db = join(harness.dir, 'tokenkeeper.db');
    const before = readFileSync(db);

    const error = await rejection(
      createKeeper({
        config: harness.config,
        env: { TOKENKEEPER_HOME: harness.dir, TOKENKEEPER_KEY: KEY_B },
      }),
    );

    expect(error.code).toBe('wrong_key');
    expect(error.message).not.toContain(KEY_A);
    expect(error.message).not.toContain(KEY_B);
    expect(readFileSync(db).equals(before)).toBe(true);

    const rotated = await harness.openKeeper({
      env: { TOKENKEEPER_KEY: KEY_B, TOKENKEEPER_PREVIOUS_KEYS: KEY_A },
    });
    const connection = await stored(rotated, name);
    expect(connection.tokens.refreshToken).toBe(grant.refreshToken);
    expect(connection.clientSecret).toBe(harness.sim.clientSecret);
    // Still usable: a refresh writes the new tokens under key B.
    const summary = await rotated.refresh(name);
    expect(summary.status).toBe('active');
    expect(harness.sim.stats.invalidGrant).toBe(0);
  });
});
