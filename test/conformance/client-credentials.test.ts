import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import { loadKeyring } from '../../src/crypto/key-source.ts';
import { SqliteStore } from '../../src/stores/sqlite-store.ts';
import { FlakyStore, openCustomKeeper } from '../engine/setup.ts';
import { startSimulatedSpotify, type SimulatedOAuthProvider } from '../fakes/index.ts';
import { KEY, stored } from './harness.ts';

let sim: SimulatedOAuthProvider;
let dir: string;

beforeAll(async () => {
  sim = await startSimulatedSpotify();
  dir = await mkdtemp(join(tmpdir(), 'tokenkeeper-cc-'));
});
afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('client-credentials renewal when the store refuses the write', () => {
  it('the new access token goes through the rescue journal into the store, like a rotated refresh token', async () => {
    const env = { TOKENKEEPER_HOME: dir, TOKENKEEPER_KEY: KEY };
    const flaky = new FlakyStore(
      SqliteStore.open({ path: join(dir, 'tokenkeeper.db'), keyring: loadKeyring({ dataDir: dir, env }) }),
    );
    const keeper = await openCustomKeeper({
      config: { providers: { spotify: { tokenUrl: sim.tokenUrl } }, refresh: { timeoutSeconds: 1 } },
      settings: {},
      dataDir: dir,
      env,
      connectionStore: flaky,
    });
    try {
      const events: KeeperEvent[] = [];
      keeper.onEvent((event) => events.push(event));
      await keeper.addConnection({
        name: 'app',
        provider: 'spotify',
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
        grant: 'client_credentials',
        tokens: {},
      });
      flaky.failures = 1;
      const token = await keeper.accessToken('app');
      expect(flaky.failed).toBe(1);
      expect(events.map((event) => event.type)).toEqual(
        expect.arrayContaining(['rescued', 'rescue_applied']),
      );
      expect(token).toBeTruthy();
      expect((await stored(keeper, 'app')).tokens.accessToken).toBe(token);
      expect(await sim.useAccessToken(token)).toBe(true);
      expect(events.find((event) => event.type === 'refreshed')).toMatchObject({ rotated: false });
    } finally {
      await keeper.close();
    }
  });
});
