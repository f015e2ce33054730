import { afterEach, describe, expect, it } from 'vitest';
import { createTimerHandler } from '../../src/azure/timer-handler.ts';
import {
  invocation,
  manualClock,
  secretHistory,
  sharedAzure,
  timerFiring,
  type AzureWorld,
} from './harness.ts';

const HOUR = 3_600_000;

describe('timer function on the seed C# function vault', () => {
  const azure = sharedAzure();
  let world: AzureWorld;

  afterEach(async () => {
    await world?.close();
  });

  it('starts no refresh once its time budget is spent: the connection is deferred to the next run', async () => {
    world = await azure.world();
    world.seedLikeCSharp({ withAccessToken: true });
    const keeper = await world.functionKeeper({ clock: manualClock() });

    const report = await createTimerHandler(async () => keeper, { budgetMs: -1 })(
      timerFiring(),
      invocation('tokenkeeperRefresh').context,
    );

    expect(report).toMatchObject({ refreshed: [], deferred: ['fitbit'], failed: [] });
    expect(world.sim.stats.refreshRequests).toBe(0);
  });

  it('a connection whose provider retired: the run fails naming the successor, on the 410 and on every run after', async () => {
    world = await azure.world();
    world.seedLikeCSharp({ withAccessToken: false });
    const keeper = await world.functionKeeper({ clock: manualClock() });
    world.sim.setRetired(true);
    const move =
      'connection "fitbit" is provider_retired: move it to google-health (tokenkeeper connect google-health --replace fitbit --store keyvault://…)';

    for (const run of [1, 2]) {
      const { context, logs } = invocation('tokenkeeperRefresh');
      await expect(createTimerHandler(async () => keeper)(timerFiring(), context)).rejects.toThrow(
        /fitbit needs a human/,
      );
      expect(logs.filter((line) => line.startsWith('error:')).join('\n'), `run ${run}`).toContain(move);
    }
    // The second run found it retired in the vault and called no one.
    expect(world.sim.stats.tokenRequests).toBe(1);
  });

  it('rotates the seed-named secrets; every rotation is a new version, old values kept in history', async () => {
    world = await azure.world();
    const grant = world.seedLikeCSharp({ withAccessToken: true });
    const clock = manualClock();
    const keeper = await world.functionKeeper({ clock });
    const timer = createTimerHandler(async () => keeper);

    const first = invocation('tokenkeeperRefresh');
    const report = await timer(timerFiring(), first.context);
    expect(report).toMatchObject({ refreshed: ['fitbit'], failed: [] });
    expect(world.sim.stats.refreshSuccesses).toBe(1);

    // RefreshToken holds the provider's current token; the seed's is the previous version.
    const refreshHistory = await secretHistory(world.secrets, 'RefreshToken');
    expect(refreshHistory.map((entry) => entry.value)).toEqual([
      grant.refreshToken,
      world.sim.activeRefreshToken('SEED01'),
    ]);
    // The access token works at the provider and carries its expiry and tags.
    const access = await world.secrets.getSecret('AccessToken');
    const profile = await fetch(world.sim.profileUrl, {
      headers: { authorization: `Bearer ${access.value}` },
    });
    expect(profile.status).toBe(200);
    expect(access.properties.expiresOn?.getTime()).toBeGreaterThan(clock.now() + 7 * HOUR);
    expect(access.properties.tags).toMatchObject({ connection: 'fitbit', 'managed-by': 'tokenkeeper' });
    // Account and scope are readable with list permission alone: not tagged unless the user opts in.
    expect(access.properties.tags?.user).toBeUndefined();
    expect(access.properties.tags?.scope).toBeUndefined();
    // Key Vault keeps expiry in whole seconds; the tag keeps the exact time.
    const taggedExpiry = Date.parse(access.properties.tags?.expiry ?? '');
    expect(Math.floor(taggedExpiry / 1000) * 1000).toBe(access.properties.expiresOn?.getTime());
    // Write order of the save: refresh token, then access token, then the state recording both versions.
    const saves = world.kv.requests
      .filter((request) => request.method === 'PUT' && request.status === 200)
      .map((request) => request.path);
    expect(saves.slice(-3)).toEqual([
      '/secrets/RefreshToken',
      '/secrets/AccessToken',
      '/secrets/TokenkeeperState',
    ]);
    // Versions this refresh added: one each of RefreshToken (rotated), AccessToken and TokenkeeperState — the
    // write-ahead record before the token request went beside the lock (blob metadata), not into the vault.
    expect(world.kv.versionsOf('RefreshToken')).toHaveLength(2);
    expect(world.kv.versionsOf('AccessToken')).toHaveLength(2);
    expect(world.kv.versionsOf('TokenkeeperState')).toHaveLength(1);
    // The Basic credentials secret is read, never rewritten.
    expect(world.kv.versionsOf('FitbitCredentials')).toHaveLength(1);
    // Nothing in the function's log carries a token.
    const logText = first.logs.join('\n');
    for (const secret of [
      grant.refreshToken,
      world.sim.activeRefreshToken('SEED01') ?? '',
      access.value ?? '',
    ]) {
      expect(logText).not.toContain(secret);
    }

    // Fifteen minutes later nothing is due: no provider call, no new version.
    clock.advance(15 * 60_000);
    expect(await timer(timerFiring(), invocation('tokenkeeperRefresh').context)).toMatchObject({
      refreshed: [],
      notDue: ['fitbit'],
    });
    expect(world.sim.stats.refreshRequests).toBe(1);

    // Close to expiry the next run rotates again.
    clock.advance(7 * HOUR);
    await timer(timerFiring(), invocation('tokenkeeperRefresh').context);
    expect(world.sim.stats.refreshSuccesses).toBe(2);
    const versions: string[] = [];
    for await (const properties of world.secrets.listPropertiesOfSecretVersions('RefreshToken')) {
      versions.push(properties.version ?? '');
    }
    expect(versions).toHaveLength(3);
    expect((await world.secrets.getSecret('RefreshToken')).value).toBe(
      world.sim.activeRefreshToken('SEED01'),
    );
    expect(world.sim.stats.invalidGrant).toBe(0);
  });

  it("with the seed's 6-hourly schedule, refreshes on the last run before expiry so the access token never lapses", async () => {
    world = await azure.world();
    world.seedLikeCSharp();
    const clock = manualClock();
    const keeper = await world.functionKeeper({ clock, schedule: '0 0 */6 * * *' });
    const timer = createTimerHandler(async () => keeper);
    for (let run = 0; run < 8; run++) {
      await timer(timerFiring(), invocation('tokenkeeperRefresh').context);
      const access = await world.secrets.getSecret('AccessToken');
      // Valid now and still valid at the next run six hours later.
      expect(access.properties.expiresOn?.getTime()).toBeGreaterThan(clock.now() + 6 * HOUR);
      clock.advance(6 * HOUR);
    }
    // 8 runs over 48 h with 8-hour tokens: a refresh every run, as the C# function did, and never a lapse.
    expect(world.sim.stats.refreshSuccesses).toBe(8);
  });
});
