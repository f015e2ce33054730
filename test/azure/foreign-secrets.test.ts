import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFunctionKeeper } from '../../src/azure/function-keeper.ts';
import { createTimerHandler } from '../../src/azure/timer-handler.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import type { ConfigFile } from '../../src/config/schema.ts';
import { createTestCertificate, type TestCertificate } from '../fakes/keyvault/index.ts';
import { rejection } from '../support/rejection.ts';
import { startAzurite, type Azurite } from './azurite.ts';
import { invocation, startAzureWorld, timerFiring, type AzureWorld } from './harness.ts';

// A vault shared with other apps: their secrets look like connections by name alone ("X-RefreshToken"), and the
// seed C# function's unprefixed RefreshToken is there too. Only what tokenkeeper wrote, or the user named, is a
// connection; nothing else is read as one, sent to a token endpoint, or written.
describe('a shared vault: secrets tokenkeeper did not write', () => {
  let azurite: Azurite;
  let certificate: TestCertificate;
  let world: AzureWorld;
  let spec: string;
  const keepers: Keeper[] = [];
  const foreign = [
    'X-RefreshToken',
    'X-AccessToken',
    'spotify-RefreshToken',
    'spotify-TokenkeeperState',
    'RefreshToken',
    'AccessToken',
  ];
  let foreignTokens: string[];

  const keeperWith = async (config: ConfigFile = world.config, storeSpec = spec) => {
    const keeper = await createKeeper({
      config,
      store: storeSpec,
      env: world.env,
      azureCredential: world.credential,
    });
    keepers.push(keeper);
    return keeper;
  };

  beforeAll(async () => {
    azurite = await startAzurite();
    certificate = createTestCertificate();
    world = await startAzureWorld({ azurite, certificate });
    spec = `keyvault://${world.kv.host}`;
    // Live grants at the simulated provider: were any of them sent, the simulator would count the request.
    const x = world.sim.seedGrant({ userId: 'OTHER1' });
    const spotify = world.sim.seedGrant({ userId: 'OTHER2' });
    const seed = world.sim.seedGrant({ userId: 'OTHER3' });
    world.kv.seed('X-RefreshToken', x.refreshToken);
    world.kv.seed('X-AccessToken', x.accessToken);
    world.kv.seed('spotify-RefreshToken', spotify.refreshToken);
    world.kv.seed('RefreshToken', seed.refreshToken);
    world.kv.seed('AccessToken', seed.accessToken);
    foreignTokens = [
      x.refreshToken,
      x.accessToken,
      spotify.refreshToken,
      seed.refreshToken,
      seed.accessToken,
    ];
    // What an earlier tokenkeeper left: a state beside spotify's token when it took it for a connection (the
    // refresh token itself was never tokenkeeper's, so it has no connection tag), and a state of a connection
    // it did create, before it tagged what it writes.
    const oldState = (version: number) =>
      JSON.stringify({
        schema: 1,
        provider: 'fitbit',
        clientId: 'c',
        status: 'failing',
        failureCount: 3,
        version,
        createdAt: 1,
        updatedAt: 1,
        tokens: {},
      });
    world.kv.seed('spotify-TokenkeeperState', oldState(4), { contentType: 'application/json' });
    const legacy = world.sim.seedGrant({ userId: 'LEGACY' });
    world.kv.seed('legacy-RefreshToken', legacy.refreshToken, { tags: { connection: 'legacy' } });
    world.kv.seed(
      'legacy-FitbitCredentials',
      Buffer.from(`${world.sim.clientId}:${world.sim.clientSecret}`).toString('base64'),
    );
    world.kv.seed('legacy-TokenkeeperState', oldState(7), { contentType: 'application/json' });

    const ours = world.sim.seedGrant({ userId: 'OURS01' });
    const cli = await keeperWith();
    await cli.addConnection({
      name: 'ours',
      provider: 'fitbit',
      clientId: world.sim.clientId,
      clientSecret: world.sim.clientSecret,
      tokens: { refreshToken: ours.refreshToken },
    });
  });
  afterAll(async () => {
    for (const keeper of keepers) await keeper.close().catch(() => undefined);
    await world?.close();
    await azurite?.stop();
    certificate?.dispose();
  });

  const versions = () => foreign.map((name) => world.kv.versionsOf(name)?.length ?? 0);

  it('status lists only the connection tokenkeeper wrote; the timer refreshes it alone and writes nothing foreign', async () => {
    const before = versions();
    const vaultRequests = world.kv.requests.length;
    const tokenRequests = world.sim.stats.tokenRequests;
    const keeper = await createFunctionKeeper({
      env: world.env,
      settings: { store: spec, schedule: '0 */15 * * * *', dataDir: world.home },
      config: world.config,
      azureCredential: world.credential,
    });
    keepers.push(keeper);

    expect((await keeper.status()).map((connection) => connection.name)).toEqual(['legacy', 'ours']);
    const report = await createTimerHandler(async () => keeper)(
      timerFiring(),
      invocation('tokenkeeperRefresh').context,
    );
    expect(report).toMatchObject({ refreshed: ['legacy', 'ours'], failed: [], inactive: [] });

    // Token requests for ours and legacy only; none of the foreign refresh tokens was spent.
    expect(world.sim.stats.tokenRequests - tokenRequests).toBe(2);
    expect(world.sim.activeRefreshToken('OTHER1')).toBe(foreignTokens[0]);
    expect(world.sim.activeRefreshToken('OTHER2')).toBe(foreignTokens[2]);
    expect(world.sim.activeRefreshToken('OTHER3')).toBe(foreignTokens[3]);
    // No foreign secret got a new version, no state appeared beside them, and none of their values was read.
    expect(versions()).toEqual(before);
    for (const name of ['X-TokenkeeperState', 'TokenkeeperState']) {
      expect(world.kv.versionsOf(name)).toBeUndefined();
    }
    const read = world.kv.requests
      .slice(vaultRequests)
      .filter((request) => request.method === 'GET')
      .map((request) => decodeURIComponent(request.path));
    for (const name of foreign) expect(read.some((path) => path.startsWith(`/secrets/${name}/`))).toBe(false);
  });

  it('a foreign name is no connection: get, refresh and remove see nothing, add refuses to overwrite it', async () => {
    const before = versions();
    const writes = world.kv.writes;
    const keeper = await keeperWith();
    expect(await keeper.get('X')).toBeUndefined();
    expect((await rejection(keeper.refresh('X'))).code).toBe('not_found');
    expect(await keeper.remove('X').catch((error: { code?: string }) => error.code)).toBe('not_found');
    const refused = await rejection(
      keeper.addConnection({
        name: 'spotify',
        provider: 'fitbit',
        clientId: world.sim.clientId,
        clientSecret: world.sim.clientSecret,
        tokens: { refreshToken: 'a-token-of-our-own' },
      }),
    );
    expect(refused.code).toBe('already_exists');
    expect(refused.message).toMatch(
      /already holds a secret "spotify-RefreshToken" that tokenkeeper did not write: pick another --name, or name this connection's secrets in the config \(keyVault\.connections\.spotify\)/,
    );
    expect(refused.message).not.toContain(foreignTokens[2]);
    expect(world.kv.writes).toBe(writes);
    expect(versions()).toEqual(before);
  });

  it('the seed secrets are taken over only for the connection the user names', async () => {
    const named = await keeperWith(world.config, `${spec}?seed=fitbit`);
    expect((await named.status()).map((connection) => connection.name).sort()).toEqual([
      'fitbit',
      'legacy',
      'ours',
    ]);
    const configured = await keeperWith({
      ...world.config,
      keyVault: { connections: { X: {} } },
    });
    expect((await configured.status()).map((connection) => connection.name).sort()).toEqual([
      'X',
      'legacy',
      'ours',
    ]);
    expect((await configured.get('X'))?.provider).toBe('fitbit');
  });
});
