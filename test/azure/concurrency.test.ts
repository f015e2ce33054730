import { afterEach, describe, expect, it } from 'vitest';
import { createTimerHandler } from '../../src/azure/timer-handler.ts';
import { invocation, manualClock, startAzureWorld, timerFiring, type AzureWorld } from './harness.ts';
import { startVaultWorker, type VaultWorker } from './worker-process.ts';

const EIGHT_HOURS = 8 * 3_600_000;

describe('two function instances and a CLI process on one vault', () => {
  let world: AzureWorld;
  let worker: VaultWorker | undefined;

  afterEach(async () => {
    await worker?.stop();
    await world?.close();
  });

  it('200 cycles: one provider call per cycle, no invalid_grant, the vault ends on the live token', async () => {
    world = await startAzureWorld({ sim: { latencyMs: () => Math.random() * 3 } });
    world.seedLikeCSharp({ withAccessToken: true });
    const clock = manualClock();
    // Two Functions instances: separate keepers, stores, blob-lease clients and owners, same vault.
    const instances = await Promise.all([world.functionKeeper({ clock }), world.functionKeeper({ clock })]);
    const timers = instances.map((keeper) => createTimerHandler(async () => keeper));
    worker = await startVaultWorker(
      { storeSpec: world.storeSpec, tokenUrl: world.sim.tokenUrl, name: 'fitbit' },
      world.childEnv,
    );
    const start = Date.now();
    const cycles = 200;
    const errors: string[] = [];
    const began = performance.now();
    for (let cycle = 1; cycle <= cycles; cycle++) {
      // All three see the same moment, eight hours after the previous cycle: the token is due for everyone.
      const now = start + cycle * EIGHT_HOURS;
      clock.set(now);
      const results = await Promise.allSettled([
        ...timers.map((timer) => timer(timerFiring(), invocation('tokenkeeperRefresh').context)),
        worker.request({ type: 'access', cycle, now }, 'done'),
      ]);
      for (const result of results) {
        if (result.status === 'rejected') errors.push(`cycle ${cycle}: ${String(result.reason)}`);
        else if ('error' in result.value && result.value.error)
          errors.push(`cycle ${cycle}: ${String(result.value.error)}`);
      }
      if (world.sim.stats.refreshRequests !== cycle) {
        throw new Error(
          `cycle ${cycle}: ${world.sim.stats.refreshRequests} provider calls so far (expected ${cycle}); ${errors.join(' | ')}`,
        );
      }
    }
    const seconds = (performance.now() - began) / 1000;
    expect(errors).toEqual([]);
    expect(world.sim.stats.refreshSuccesses).toBe(cycles);
    expect(world.sim.stats.invalidGrant).toBe(0);
    expect((await world.secrets.getSecret('RefreshToken')).value).toBe(
      world.sim.activeRefreshToken('SEED01'),
    );
    const versions: string[] = [];
    for await (const properties of world.secrets.listPropertiesOfSecretVersions('RefreshToken')) {
      versions.push(properties.version ?? '');
    }
    expect(versions).toHaveLength(cycles + 1);
    console.log(
      `azure race: ${cycles} cycles x 3 refreshers in ${seconds.toFixed(1)} s, ${world.sim.stats.refreshRequests} provider calls, ${world.kv.requestCount} vault requests, ${world.kv.writes} secret writes`,
    );
  }, 240_000);
});
