import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKeyring } from '../../src/crypto/key-source.ts';
import type { NewConnectionInput } from '../../src/keeper/keeper.ts';
import { FileRescueJournal } from '../../src/stores/rescue-journal.ts';
import { FlakyStore, KEY_B, fitbitHarness, rejection, stored } from './setup.ts';

/** A grant at the successor as a finished consent hands it to `replace` (it is never sent anywhere here). */
function successorGrant(name: string): NewConnectionInput {
  const now = Date.now();
  return {
    name,
    provider: 'google-health',
    clientId: 'google-client',
    clientSecret: 'google-secret',
    tokens: {
      refreshToken: 'google-rt',
      accessToken: 'google-at',
      obtainedAt: now,
      expiresAt: now + 3_600_000,
    },
  };
}

function rescueFiles(dir: string): string[] {
  const rescue = join(dir, 'rescue');
  return existsSync(rescue) ? readdirSync(rescue).filter((file) => file.endsWith('.rescue')) : [];
}

describe('replace while newer tokens of the old grant wait in the rescue journal', () => {
  it('refuses while they cannot be saved, changing nothing; once they are, replaces and revokes the newest', async () => {
    const harness = await fitbitHarness({ sim: { graceMs: 0 } });
    let flaky: FlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (flaky = new FlakyStore(inner)),
      settings: { saveRetryMs: 200 },
    });
    const { name, grant } = await harness.addConnection(keeper);
    (flaky as FlakyStore).failures = Infinity;
    expect((await rejection(keeper.refresh(name))).code).toBe('store');
    const rotated = harness.sim.activeRefreshToken(grant.userId);
    expect(rotated).not.toBe(grant.refreshToken);
    expect(rescueFiles(harness.dir)).toHaveLength(1);

    const refused = await rejection(keeper.replace(successorGrant(name)));

    expect(refused.code).toBe('store');
    expect(refused.message).toMatch(/rescue journal .*nothing was replaced/);
    const unchanged = await stored(keeper, name);
    expect(unchanged.provider).toBe('fitbit');
    expect(unchanged.tokens.refreshToken).toBe(grant.refreshToken);
    expect(harness.sim.activeRefreshToken(grant.userId)).toBe(rotated);

    (flaky as FlakyStore).failures = 0;
    const replaced = await keeper.replace(successorGrant(name));

    expect(replaced).toMatchObject({ previousProvider: 'fitbit', revoked: true });
    expect(replaced.summary.provider).toBe('google-health');
    // The rotated token, not the spent one the store held, was revoked: nothing of the old grant lives on.
    expect(harness.sim.activeRefreshToken(grant.userId)).toBeUndefined();
    expect(rescueFiles(harness.dir)).toEqual([]);
  });

  it('refuses while an entry cannot be decrypted with the loaded key, and does not revoke', async () => {
    const harness = await fitbitHarness();
    const keeper = await harness.openKeeper();
    const { name, grant } = await harness.addConnection(keeper);
    // Written by a process that had another key (e.g. before a key rotation lost the previous one).
    const otherKey = loadKeyring({ dataDir: harness.dir, env: { TOKENKEEPER_KEY: KEY_B } });
    await new FileRescueJournal(join(harness.dir, 'rescue'), otherKey).write({
      name,
      attemptId: 'lost-attempt',
      spentRefreshToken: grant.refreshToken,
      tokens: { refreshToken: 'newer-old-provider-token', obtainedAt: Date.now() },
      writtenAt: Date.now(),
    });

    const refused = await rejection(keeper.replace(successorGrant(name)));

    expect(refused.code).toBe('store');
    expect(refused.message).toMatch(/cannot be decrypted with the loaded key.*nothing was replaced/);
    expect((await stored(keeper, name)).provider).toBe('fitbit');
    expect(harness.sim.activeRefreshToken(grant.userId)).toBe(grant.refreshToken);

    for (const file of rescueFiles(harness.dir)) rmSync(join(harness.dir, 'rescue', file));
    const replaced = await keeper.replace(successorGrant(name));
    expect(replaced.revoked).toBe(true);
    expect(harness.sim.activeRefreshToken(grant.userId)).toBeUndefined();
  });
});
