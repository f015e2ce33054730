import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTimerHandler } from '../../src/azure/timer-handler.ts';
import { isTokenkeeperError } from '../../src/core/errors.ts';
import type { KeeperEvent } from '../../src/core/events.ts';
import { keyFromBytes, type Keyring } from '../../src/crypto/envelope.ts';
import { BlobRescueJournal, type KeyVaultStore } from '../../src/stores/keyvault/index.ts';
import { FileRescueJournal, type RescueEntry } from '../../src/stores/rescue-journal.ts';
import { loadKeyring } from '../../src/crypto/key-source.ts';
import { rejection } from '../support/rejection.ts';
import { startAzurite, type Azurite } from './azurite.ts';
import { invocation, manualClock, sharedAzure, timerFiring, type AzureWorld } from './harness.ts';

const EIGHT_HOURS = 8 * 3_600_000;
const refreshTokenPut = (request: { method: string; secretName?: string }) =>
  request.method === 'PUT' && request.secretName?.toLowerCase() === 'refreshtoken';
const otherKey: Keyring = { current: keyFromBytes(Buffer.alloc(32, 7)), previous: [] };

describe('the rescue journal of a Key Vault store is shared by all Functions instances (blob storage)', () => {
  const azure = sharedAzure();
  let world: AzureWorld;
  const homes: string[] = [];
  /** A data dir of its own for each instance: on Flex Consumption no disk is shared between instances. */
  const instanceHome = () => {
    const home = mkdtempSync(join(tmpdir(), 'tk-instance-'));
    homes.push(home);
    return home;
  };

  afterEach(async () => {
    await world?.close();
    for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
  });

  it('instance B replays the tokens instance A rescued during a vault outage before it spends a refresh token', async () => {
    world = await azure.world({ refresh: { saveRetrySeconds: 1 } });
    const grant = world.seedLikeCSharp({ withAccessToken: true });
    const homeA = instanceHome();
    const homeB = instanceHome();
    const a = await world.functionKeeper({ dataDir: homeA });
    const clockB = manualClock();
    const b = await world.functionKeeper({ dataDir: homeB, clock: clockB });
    const eventsB: KeeperEvent[] = [];
    b.onEvent((event) => eventsB.push(event));

    // A refreshes while the vault refuses token writes: the rotated pair exists only at the provider and in
    // the journal.
    world.kv.inject({
      match: refreshTokenPut,
      fault: { status: 503, headers: { 'retry-after': '0' } },
      times: 10_000,
    });
    const failure = await rejection(a.refresh('fitbit', { force: true }));
    expect(failure.message).toMatch(/safe in the rescue journal/);
    expect(world.sim.stats.refreshRequests).toBe(1);
    const rotated = world.sim.activeRefreshToken('SEED01') ?? '';
    expect(rotated).not.toBe(grant.refreshToken);

    const blobs = await world.rescueBlobs();
    expect(blobs.map((blob) => blob.name)).toEqual([
      expect.stringMatching(/^rescue\/127\.0\.0\.1-\d+\/fitbit~[0-9a-f-]{36}\.rescue$/),
    ]);
    const content = blobs[0]?.content ?? '';
    expect(content).not.toContain(rotated);
    expect(content).not.toContain(grant.refreshToken);
    expect(content).not.toContain('"accessToken"');
    // Nothing on A's disk: another instance could never have seen it there.
    expect(existsSync(join(homeA, 'rescue'))).toBe(false);

    // B, still during the outage, refuses to spend the refresh token the vault holds (A spent it already).
    const refused = await rejection(b.refresh('fitbit', { force: true }));
    expect(refused.message).toMatch(
      /waiting in the rescue journal \(blob container devstoreaccount1\/tokenkeeper-locks/,
    );
    expect(refused.message).not.toContain(rotated);
    expect(world.sim.stats.refreshRequests).toBe(1);

    // The vault is back: B's next timer run replays A's entry first. The token is not due, so no request.
    world.kv.clearFaults();
    const timer = createTimerHandler(async () => b);
    await timer(timerFiring(), invocation('tokenkeeperRefresh').context);
    expect(eventsB.map((event) => event.type)).toContain('rescue_applied');
    expect(world.sim.stats.refreshRequests).toBe(1);
    expect((await world.secrets.getSecret('RefreshToken')).value).toBe(rotated);
    expect((await b.store.get('fitbit'))?.pending).toBeUndefined();
    expect(await world.rescueBlobs()).toEqual([]);

    // And the chain goes on from A's rotated token: never the spent one (no grace replay, no invalid_grant).
    clockB.advance(EIGHT_HOURS);
    const report = await timer(timerFiring(), invocation('tokenkeeperRefresh').context);
    expect(report.refreshed).toEqual(['fitbit']);
    expect(world.sim.stats.refreshRequests).toBe(2);
    expect(world.sim.stats.graceReplays).toBe(0);
    expect(world.sim.stats.invalidGrant).toBe(0);
    expect((await world.secrets.getSecret('RefreshToken')).value).toBe(
      world.sim.activeRefreshToken('SEED01'),
    );
  });

  it('an entry encrypted with another key is reported, kept, and blocks refreshes of its connection', async () => {
    world = await azure.world();
    world.seedLikeCSharp({ withAccessToken: true });
    const b = await world.functionKeeper({ dataDir: instanceHome() });
    const foreign = (b.store as KeyVaultStore).openRescueJournal(otherKey);
    if (!foreign) throw new Error('a Key Vault store opened by the keeper has a shared rescue journal');
    const path = await foreign.write({
      name: 'fitbit',
      attemptId: '00000000-0000-4000-8000-000000000001',
      spentRefreshToken: 'fr_spent_elsewhere',
      tokens: { accessToken: 'fa_foreign', refreshToken: 'fr_foreign' },
      writtenAt: Date.now(),
    });

    const { context } = invocation('tokenkeeperRefresh');
    const timerError = await rejection(createTimerHandler(async () => b)(timerFiring(), context));
    expect(timerError.message).toMatch(/fitbit/);
    const refused = await rejection(b.refresh('fitbit', { force: true }));
    expect(isTokenkeeperError(refused, 'store')).toBe(true);
    expect(refused.message).toMatch(
      /waiting in the rescue journal \(blob container devstoreaccount1\/tokenkeeper-locks\/rescue\/.*\) because the store refuses writes or the entry cannot be decrypted with the loaded key; not refreshing/,
    );
    expect(world.sim.stats.tokenRequests).toBe(0);
    expect((await world.rescueBlobs()).map((blob) => blob.name)).toEqual([path]);
    // The key that wrote it still reads it: kept for manual recovery, not destroyed.
    expect((await foreign.read('fitbit')).entries).toHaveLength(1);
  });

  it('entries in the old local journal of the data dir are replayed too', async () => {
    world = await azure.world();
    const grant = world.seedLikeCSharp({ withAccessToken: true });
    const home = instanceHome();
    const first = await world.functionKeeper({ dataDir: home });
    // An earlier version journaled the tokens on this instance's disk.
    const local = new FileRescueJournal(join(home, 'rescue'), loadKeyring({ dataDir: home, env: world.env }));
    // Rotate at the provider as a refresh would, and leave the result only in the local journal.
    const response = await fetch(world.sim.tokenUrl, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${world.sim.clientId}:${world.sim.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      access_token: string;
      refresh_token: string;
      expires_in: number;
    };
    const entry: RescueEntry = {
      name: 'fitbit',
      attemptId: '00000000-0000-4000-8000-000000000002',
      spentRefreshToken: grant.refreshToken,
      tokens: {
        accessToken: body.access_token,
        refreshToken: body.refresh_token,
        expiresAt: Date.now() + body.expires_in * 1000,
        obtainedAt: Date.now(),
      },
      writtenAt: Date.now(),
    };
    const legacyPath = await local.write(entry);

    // The next run of this instance replays it before anything else, and the local entry is gone.
    await first.replayRescued();
    expect((await world.secrets.getSecret('RefreshToken')).value).toBe(body.refresh_token);
    expect(existsSync(legacyPath)).toBe(false);
    await first.refresh('fitbit', { force: true });
    expect(world.sim.stats.invalidGrant).toBe(0);
    expect(world.sim.stats.graceReplays).toBe(0);
  });
});

describe('BlobRescueJournal on Azurite', () => {
  let azurite: Azurite;
  let container: ContainerClient;
  let run = 0;
  const storage = () => ({
    container,
    scope: `scope-${++run}`,
    location: 'blob container devstoreaccount1/tk-journal-test',
  });
  const entry = (name: string, attemptId: string, writtenAt: number): RescueEntry => ({
    name,
    attemptId,
    spentRefreshToken: `fr_spent_${attemptId}`,
    tokens: { accessToken: `fa_new_${attemptId}`, refreshToken: `fr_new_${attemptId}` },
    writtenAt,
  });

  beforeAll(async () => {
    azurite = await startAzurite();
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      'tk-journal-test',
    );
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it('creates the container on the first write, lists through every page, filters by exact name, oldest first', async () => {
    const journal = new BlobRescueJournal(storage(), otherKey, { pageSize: 2 });
    expect(await journal.read()).toEqual({ entries: [], unreadable: [] });
    for (const [index, name] of ['me', 'me', 'me2', 'me', 'other'].entries()) {
      await journal.write(entry(name, `id-${index}`, 100 - index));
    }
    expect((await journal.read()).entries.map((e) => e.attemptId)).toEqual([
      'id-4',
      'id-3',
      'id-2',
      'id-1',
      'id-0',
    ]);
    expect((await journal.read('me')).entries.map((e) => e.attemptId)).toEqual(['id-3', 'id-1', 'id-0']);
    const [first] = (await journal.read('me2')).entries;
    expect(first).toEqual({ ...entry('me2', 'id-2', 98), path: first?.path });
  });

  it('never overwrites an entry, tolerates a second removal, skips an entry removed while reading', async () => {
    const where = storage();
    const journal = new BlobRescueJournal(where, otherKey);
    const path = await journal.write(entry('me', 'same', 1));
    expect(await journal.write({ ...entry('me', 'same', 2), tokens: { accessToken: 'changed' } })).toBe(path);
    expect((await journal.read('me')).entries.map((e) => e.tokens.accessToken)).toEqual(['fa_new_same']);
    await journal.remove(path);
    await journal.remove(path);
    expect((await journal.read()).entries).toEqual([]);

    // Another instance replays (deletes) an entry between this one's listing and its download.
    await journal.write(entry('me', 'gone', 1));
    const racing = new BlobRescueJournal(
      {
        ...where,
        container: new Proxy(container, {
          get(target, property, receiver) {
            if (property !== 'getBlockBlobClient') return Reflect.get(target, property, receiver) as unknown;
            return (name: string) => {
              const blob = target.getBlockBlobClient(name);
              return Object.assign(Object.create(blob) as typeof blob, {
                downloadToBuffer: async () => {
                  await blob.delete();
                  return blob.downloadToBuffer();
                },
              });
            };
          },
        }),
      },
      otherKey,
    );
    expect(await racing.read()).toEqual({ entries: [], unreadable: [] });
  });

  it('a corrupt entry is reported unreadable and kept', async () => {
    const where = storage();
    const journal = new BlobRescueJournal(where, otherKey);
    const name = `rescue/${where.scope}/me~bad.rescue`;
    await container.getBlockBlobClient(name).upload('not an envelope', 15);
    expect(await journal.read('me')).toEqual({ entries: [], unreadable: [name] });
    expect(await container.getBlockBlobClient(name).exists()).toBe(true);
  });

  it('storage that cannot be reached fails with one line naming the container', async () => {
    const unreachable = BlobServiceClient.fromConnectionString(
      azurite.connectionString.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9'),
      { retryOptions: { maxTries: 1 } },
    ).getContainerClient('tk-journal-test');
    const journal = new BlobRescueJournal(
      { container: unreachable, scope: 's', location: 'blob container devstoreaccount1/tk-journal-test' },
      otherKey,
    );
    for (const attempt of [() => journal.write(entry('me', 'x', 1)), () => journal.read()]) {
      const error = await rejection(attempt());
      expect(isTokenkeeperError(error, 'store')).toBe(true);
      expect(error.message).toMatch(
        /^rescue journal in blob container devstoreaccount1\/tk-journal-test\/rescue\/s cannot /,
      );
      expect(error.message).not.toContain('\n');
      expect(error.message).not.toContain('fr_new_x');
    }
  });
});
