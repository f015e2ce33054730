import { describe, expect, it } from 'vitest';
import type { Keeper } from '../../src/keeper/keeper.ts';
import { freePort } from '../cli/harness.ts';
import {
  apiStatus,
  fitbitWithConnection,
  openCustomKeeper,
  rejection,
  stored,
  type Harness,
} from './setup.ts';
import type { SimulatedFitbit } from '../fakes/index.ts';

/** A second keeper on the same data dir whose provider is down: nothing listens on its token URL. */
async function keeperWithProviderDown(harness: Harness<SimulatedFitbit>): Promise<Keeper> {
  const tokenUrl = `http://127.0.0.1:${await freePort()}/oauth2/token`;
  const keeper = await openCustomKeeper({
    config: { providers: { fitbit: { tokenUrl } } },
    settings: {},
    dataDir: harness.dir,
    env: harness.env,
  });
  return keeper;
}

/**
 * `work`'s result, or a failure if it has not settled within `boundMs`: a stall (retries with backoff, a wait for
 * every attempt's timeout) fails the test. The bound is generous on purpose; speed itself is for the benchmarks.
 */
async function settlesWithin<T>(work: Promise<T>, boundMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const cutOff = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${boundMs} ms (a stall)`)), boundMs);
  });
  try {
    return await Promise.race([work, cutOff]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a refresh that provably sent nothing (connection refused)', () => {
  it('leaves no write-ahead record: a normal transient failure with backoff, and says it will be retried', async () => {
    const harness = await fitbitWithConnection({ connection: { withAccessToken: true } });
    const down = await keeperWithProviderDown(harness);
    try {
      const error = await rejection(down.refresh(harness.name, { force: true }));

      expect(error.code).toBe('provider_unavailable');
      expect(error.message).toMatch(/ECONNREFUSED.*nothing was spent; it will be retried in \d+ s/);
      const after = await stored(down, harness.name);
      expect(after.pending).toBeUndefined();
      expect(after.status).toBe('failing');
      expect(after.failureCount).toBe(3);
      expect(after.nextAttemptAt).toBeGreaterThan(Date.now());
      expect(after.tokens.refreshToken).toBe(harness.grant.refreshToken);
    } finally {
      await down.close();
    }
  });
});

describe('accessToken with a usable stored token answers at once, whatever the provider does', () => {
  it('provider down after a failed forced refresh: the stored token at once, no inline retries', async () => {
    const harness = await fitbitWithConnection({ connection: { withAccessToken: true } });
    const down = await keeperWithProviderDown(harness);
    try {
      await rejection(down.refresh(harness.name, { force: true }));

      const value = await settlesWithin(down.accessTokenDetails(harness.name), 5_000);

      expect(value.accessToken).toBe(harness.grant.accessToken);
      expect(await apiStatus(harness.sim, value.accessToken)).toBe(200);
    } finally {
      await down.close();
    }
  });

  it('an unfinished attempt stays pending while the provider is down, and is recovered once it is back', async () => {
    const harness = await fitbitWithConnection({
      refresh: { timeoutSeconds: 1, maxAttempts: 1 },
      connection: { withAccessToken: true },
    });
    const { keeper, sim, name, grant } = harness;
    // The provider rotates and the answer never arrives: the outcome is unknown, the record stays pending.
    sim.inject({ kind: 'rotate-then-hang' });
    await rejection(keeper.refresh(name, { force: true }));
    expect((await stored(keeper, name)).pending?.refreshToken).toBe(grant.refreshToken);

    const down = await keeperWithProviderDown(harness);
    try {
      const value = await settlesWithin(down.accessToken(name), 5_000);
      expect(value).toBe(grant.accessToken);
      await down.idle();
      // The recovery attempt could not connect; the earlier attempt's outcome is still unknown: not lost.
      const after = await stored(down, name);
      expect(after.pending?.refreshToken).toBe(grant.refreshToken);
      expect(after.tokens.refreshToken).toBe(grant.refreshToken);
    } finally {
      await down.close();
    }

    // The provider is back, inside its grace window: the same refresh token brings the rotated pair.
    const token = await keeper.accessToken(name);
    expect(sim.stats.graceReplays).toBe(1);
    expect(sim.stats.invalidGrant).toBe(0);
    const saved = await stored(keeper, name);
    expect(saved.pending).toBeUndefined();
    expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(token).toBe(saved.tokens.accessToken);
    expect(await apiStatus(sim, token)).toBe(200);
  });

  it('a due token is served at once and renewed in the background', async () => {
    let now = Date.now();
    const harness = await fitbitWithConnection({
      connection: { withAccessToken: true },
      keeper: { clock: { now: () => now } },
    });
    const { keeper, sim, name, grant } = harness;
    now += 8 * 3_600_000 - 10 * 60_000; // ten minutes left: due (margin 48 min), still usable

    const token = await keeper.accessToken(name);

    expect(token).toBe(grant.accessToken);
    await keeper.idle();
    expect(sim.stats.refreshSuccesses).toBe(1);
    const renewed = await stored(keeper, name);
    expect(renewed.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(await keeper.accessToken(name)).toBe(renewed.tokens.accessToken);
  });

  it('a short-lived token (20 s) that is not due yet is served as it is, not refreshed on every call', async () => {
    const { keeper, sim, name } = await fitbitWithConnection({ sim: { accessTokenLifetimeSeconds: 20 } });

    const first = await keeper.accessToken(name);
    const again = await keeper.accessToken(name);

    expect(again).toBe(first);
    expect(sim.stats.tokenRequests).toBe(1);
  });

  it('minValidMs: a token expiring sooner is refreshed first', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({
      connection: { withAccessToken: true },
    });

    const kept = await keeper.accessTokenDetails(name, { minValidMs: 3_600_000 });
    expect(kept.accessToken).toBe(grant.accessToken);
    expect(sim.stats.tokenRequests).toBe(0);

    const longer = await keeper.accessTokenDetails(name, { minValidMs: 9 * 3_600_000 });
    expect(longer.accessToken).not.toBe(grant.accessToken);
    expect(sim.stats.refreshSuccesses).toBe(1);
    expect(await apiStatus(sim, longer.accessToken)).toBe(200);
  });
});

describe('a refresh accessToken must make has one total deadline', () => {
  it('a hanging provider: gives up at timeoutMs, not after every attempt, and keeps the attempt pending', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection();
    sim.inject({ kind: 'hang' }, 10);

    // 15 s per request and three attempts without the deadline.
    const error = await settlesWithin(rejection(keeper.accessToken(name, { timeoutMs: 1000 })), 10_000);

    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(/attempt is kept and retried with the same refresh token.*grace window/);
    expect((await stored(keeper, name)).pending?.refreshToken).toBe(grant.refreshToken);
  });

  it('a lock held by another refresher: times out at timeoutMs with a clear message', async () => {
    const { keeper, name } = await fitbitWithConnection();
    const held = await keeper.store.tryLock(name, 'other-host:1:abcdef', 60_000);
    expect(held).toBeDefined();

    const error = await rejection(keeper.accessToken(name, { timeoutMs: 300 }));

    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(/timed out after 1 s waiting for another refresher/);
  });
});
