import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKeeper } from '../../src/keeper/keeper.ts';
import { startSimulatedFitbit, type SimulatedFitbit } from '../fakes/index.ts';
import { startWorker, stopWorker, type Worker } from './processes.ts';

const KEY = 'a'.repeat(64);
const EIGHT_HOURS = 8 * 60 * 60 * 1000;

describe('refreshing one connection from several processes', () => {
  let home: string;
  let sim: SimulatedFitbit;
  let env: NodeJS.ProcessEnv;
  let workers: Worker[] = [];

  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), 'tk-race-'));
    env = { ...process.env, TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: KEY };
    delete env.TOKENKEEPER_STORE;
    delete env.TOKENKEEPER_CONFIG;
  });

  afterEach(async () => {
    await Promise.all(workers.map(stopWorker));
    workers = [];
    await sim?.close();
    rmSync(home, { recursive: true, force: true });
  });

  async function addConnection(): Promise<{ storePath: string; userId: string }> {
    const storePath = join(home, 'tokenkeeper.db');
    const grant = sim.seedGrant({ userId: 'RACER1' });
    const keeper = await createKeeper({
      env,
      store: storePath,
      config: { providers: { fitbit: { tokenUrl: sim.tokenUrl } } },
    });
    await keeper.addConnection({
      name: 'me',
      provider: 'fitbit',
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      tokens: { refreshToken: grant.refreshToken },
    });
    await keeper.close();
    return { storePath, userId: grant.userId };
  }

  it('1000 cycles with 4 racing processes: one provider call per cycle, no invalid_grant', async () => {
    sim = await startSimulatedFitbit({ latencyMs: () => Math.random() * 3, rateLimitPerHour: 1_000_000 });
    const { storePath, userId } = await addConnection();
    workers = await Promise.all([1, 2, 3, 4].map(() => startWorker(storePath, sim.tokenUrl, env)));
    const start = Date.now();
    const cycles = 1000;
    const errors: string[] = [];
    for (let cycle = 1; cycle <= cycles; cycle++) {
      // Every process sees the same moment: eight hours after the previous cycle, so the token is due for all.
      const now = start + cycle * EIGHT_HOURS;
      const replies = await Promise.all(
        workers.map((worker) => {
          const reply = worker.next('done');
          worker.child.send({ type: 'access', cycle, now });
          return reply;
        }),
      );
      for (const reply of replies) if (reply.error) errors.push(`cycle ${cycle}: ${String(reply.error)}`);
      if (sim.stats.refreshRequests !== cycle) {
        throw new Error(
          `cycle ${cycle}: ${sim.stats.refreshRequests} provider calls so far (expected ${cycle})`,
        );
      }
    }
    expect(errors).toEqual([]);
    expect(sim.stats.refreshRequests).toBe(cycles);
    expect(sim.stats.refreshSuccesses).toBe(cycles);
    expect(sim.stats.invalidGrant).toBe(0);

    const keeper = await createKeeper({
      env,
      store: storePath,
      config: { providers: { fitbit: { tokenUrl: sim.tokenUrl } } },
    });
    const stored = await keeper.store.get('me');
    expect(stored?.tokens.refreshToken).toBe(sim.activeRefreshToken(userId));
    expect(stored?.status).toBe('active');
    await keeper.close();
  }, 240_000);

  it('SIGKILL at random points during 200 refreshes loses nothing', async () => {
    // Random latency spreads the kills over every step: lock, write-ahead, in flight, saving.
    sim = await startSimulatedFitbit({ latencyMs: () => Math.random() * 8, rateLimitPerHour: 1_000_000 });
    const { storePath, userId } = await addConnection();
    let kills = 0;
    let rounds = 0;
    const errors: string[] = [];
    while (sim.stats.refreshSuccesses < 200) {
      const racers = await Promise.all([1, 2].map(() => startWorker(storePath, sim.tokenUrl, env)));
      workers.push(...racers);
      for (const racer of racers) {
        racer.on('error', (message) => errors.push(String(message.error)));
        racer.child.send({ type: 'force-loop' });
      }
      // Every other round kills right after start (often during the first refresh); the others once the racers
      // are under way (a first rotation, or 2 s on a loaded machine), so the 200 rotations come in fewer rounds.
      if (rounds++ % 2 === 1) {
        await Promise.race([
          ...racers.map((racer) => racer.next('refreshed').catch(() => undefined)),
          new Promise((resolve) => setTimeout(resolve, 2_000)),
        ]);
      }
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 150));
      const victim = racers[Math.floor(Math.random() * racers.length)] as Worker;
      await stopWorker(victim);
      kills++;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
      await Promise.all(racers.map(stopWorker));
      kills++;
    }
    const keeper = await createKeeper({
      env,
      store: storePath,
      config: { providers: { fitbit: { tokenUrl: sim.tokenUrl } } },
    });
    const survivor = await keeper.store.get('me');
    // Whatever state the last kill left, the connection is usable at once and the provider accepts its token.
    const token = await keeper.accessToken('me');
    const profile = await fetch(sim.profileUrl, { headers: { authorization: `Bearer ${token}` } });
    await keeper.refresh('me', { force: true });
    const after = await keeper.store.get('me');
    await keeper.close();

    expect(survivor?.status).not.toBe('needs_reauth');
    expect(profile.status).toBe(200);
    expect(after?.status).toBe('active');
    expect(after?.tokens.refreshToken).toBe(sim.activeRefreshToken(userId));
    expect(sim.stats.invalidGrant).toBe(0);
    expect(errors.filter((error) => /re-authoris|invalid_grant|rejected/.test(error))).toEqual([]);
    expect(kills).toBeGreaterThan(10);
    console.log(
      `kill test: ${kills} kills, ${sim.stats.refreshSuccesses} rotations, ${sim.stats.graceReplays} grace replays, ${sim.stats.invalidGrant} invalid_grant`,
    );
  }, 300_000);
});
