import { writeFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import { FlakyStore, fitbitHarness, rejection, stored } from './setup.ts';

function rescueFiles(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'rescue')).filter((file) => file.endsWith('.rescue'));
  } catch {
    return [];
  }
}

describe('store outage while saving rotated tokens', () => {
  it('a single failed write: the new tokens go through the rescue journal, land in the store, and the journal is cleaned', async () => {
    const harness = await fitbitHarness({ sim: { graceMs: 0 } });
    let flaky: FlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (flaky = new FlakyStore(inner)),
    });
    const events: KeeperEvent[] = [];
    keeper.onEvent((event) => events.push(event));
    const { name, grant } = await harness.addConnection(keeper);
    (flaky as FlakyStore).failures = 1;

    const summary = await keeper.refresh(name);

    expect(flaky?.failed).toBe(1);
    expect(summary.status).toBe('active');
    expect(events.map((event) => event.type)).toEqual(
      expect.arrayContaining(['rescued', 'rescue_applied', 'refreshed']),
    );
    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).toBe(harness.sim.activeRefreshToken(grant.userId));
    expect(saved.pending).toBeUndefined();
    expect(rescueFiles(harness.dir)).toEqual([]);
  });

  it('a lasting outage: store error naming the rescue journal; an encrypted 0600 entry; the next keeper replays it', async () => {
    const harness = await fitbitHarness({ sim: { graceMs: 0 } });
    const { sim, dir } = harness;
    let flaky: FlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (flaky = new FlakyStore(inner)),
      settings: { saveRetryMs: 300 },
    });
    const { name, grant } = await harness.addConnection(keeper);
    (flaky as FlakyStore).failures = Infinity;

    const error = await rejection(keeper.refresh(name));

    expect(error.code).toBe('store');
    expect(error.message).toMatch(/rescue journal/);
    const rotated = sim.activeRefreshToken(grant.userId) as string;
    expect(rotated).not.toBe(grant.refreshToken);
    expect(error.message).not.toContain(rotated);

    const files = rescueFiles(dir);
    expect(files).toHaveLength(1);
    const path = join(dir, 'rescue', files[0] as string);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(path, 'utf8');
    expect(bytes).not.toContain(rotated);
    expect(bytes).not.toContain(grant.refreshToken);
    // The store still holds the spent token: the journal is the only place the new one lives.
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(grant.refreshToken);
    await keeper.close();

    const healthy = await harness.openKeeper();

    const replayed = await stored(healthy, name);
    expect(replayed.tokens.refreshToken).toBe(rotated);
    expect(replayed.status).toBe('active');
    expect(replayed.pending).toBeUndefined();
    expect(rescueFiles(dir)).toEqual([]);
    const summary = await healthy.refresh(name, { force: true });
    expect(summary.status).toBe('active');
    expect(sim.stats.invalidGrant).toBe(0);
    expect((await stored(healthy, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
  });

  it('while rescued tokens cannot be saved, no refresh spends the outdated refresh token the store still holds', async () => {
    const harness = await fitbitHarness({ sim: { graceMs: 0 } });
    const { sim } = harness;
    let flaky: FlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (flaky = new FlakyStore(inner)),
      settings: { saveRetryMs: 300 },
    });
    const { name, grant } = await harness.addConnection(keeper);
    (flaky as FlakyStore).failures = Infinity;
    expect((await rejection(keeper.refresh(name))).code).toBe('store');
    const callsAfterOutage = sim.stats.refreshRequests;

    const again = await rejection(keeper.refresh(name, { force: true }));
    const token = await rejection(keeper.accessToken(name));

    expect(again.code).toBe('store');
    expect(again.message).toMatch(/rescue journal/);
    expect(token.code).toBe('store');
    expect(sim.stats.refreshRequests).toBe(callsAfterOutage);
    expect(sim.stats.invalidGrant).toBe(0);
    (flaky as FlakyStore).failures = 0;
    const healed = await keeper.refresh(name, { force: true });
    expect(healed.status).toBe('active');
    expect(sim.stats.invalidGrant).toBe(0);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
  });

  it('when the rescue journal cannot be written either, the store write is retried until it works', async () => {
    const harness = await fitbitHarness();
    const { sim, dir } = harness;
    let flaky: FlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (flaky = new FlakyStore(inner)),
      settings: { saveRetryMs: 300 },
    });
    const { name, grant } = await harness.addConnection(keeper);
    // A plain file where the journal directory should be: every journal write fails.
    writeFileSync(join(dir, 'rescue'), 'not a directory');
    (flaky as FlakyStore).failures = 3;

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect((flaky as FlakyStore).failed).toBe(3);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(sim.stats.refreshRequests).toBe(1);
  });

  it('a rescued entry is applied before the next refresh of the same keeper once the store heals', async () => {
    const harness = await fitbitHarness({ sim: { graceMs: 0 } });
    const { sim, dir } = harness;
    let flaky: FlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (flaky = new FlakyStore(inner)),
      settings: { saveRetryMs: 300 },
    });
    const { name, grant } = await harness.addConnection(keeper);
    (flaky as FlakyStore).failures = Infinity;
    expect((await rejection(keeper.refresh(name))).code).toBe('store');
    const rotated = sim.activeRefreshToken(grant.userId);

    (flaky as FlakyStore).failures = 0;
    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect(sim.stats.invalidGrant).toBe(0);
    const saved = await stored(keeper, name);
    // Either the rescued set itself or one refreshed from it — never a re-spend of the dead token.
    expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(saved.tokens.refreshToken === rotated || sim.stats.refreshSuccesses === 2).toBe(true);
    expect(rescueFiles(dir)).toEqual([]);
  });
});
