import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Keeper } from '../../src/keeper/keeper.ts';
import { connectWithDevice } from '../../src/flows/device-flow.ts';
import { startSimulatedOAuth2, type SimulatedOAuthProvider } from '../fakes/index.ts';
import { keeperFactory, stored } from './harness.ts';

// The device flow re-authorises through keeper.reconnect too: another account is refused unless allowed.
let sim: SimulatedOAuthProvider;
const keepers = keeperFactory('acme', () => ({
  extends: 'oauth2',
  tokenUrl: sim.tokenUrl,
  deviceAuthorizationUrl: sim.deviceAuthorizationUrl,
  scopes: ['read'],
}));

beforeAll(async () => {
  sim = await startSimulatedOAuth2({ userId: 'alice', reportUserId: true });
});
afterEach(() => keepers.cleanup());
afterAll(async () => {
  await sim?.close();
});

/** Connects "tv" with the device flow, the user signing in as `account`. */
function connectTv(keeper: Keeper, account: string, allowAccountChange?: boolean) {
  return connectWithDevice(keeper, {
    provider: 'acme',
    name: 'tv',
    clientId: sim.clientId,
    scopes: ['read'],
    presentUserCode: (device) => void sim.approveDevice(device.userCode, account),
    allowAccountChange,
  });
}

describe('connect --device and accounts', () => {
  it('refuses tokens of another account, leaving the connection as it was; allowAccountChange switches it', async () => {
    const keeper = await keepers.open();
    expect(await connectTv(keeper, 'alice')).toMatchObject({ account: 'alice', status: 'active' });
    const before = await stored(keeper, 'tv');

    const refused = await connectTv(keeper, 'bob').catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ code: 'account_mismatch', exitCode: 2 });
    expect((refused as Error).message).toContain('connected to acme account alice');
    expect(await stored(keeper, 'tv')).toEqual(before);
    expect(before.tokens.refreshToken).toBe(sim.activeRefreshToken('alice'));

    expect(await connectTv(keeper, 'bob', true)).toMatchObject({ account: 'bob', status: 'active' });
    expect((await stored(keeper, 'tv')).tokens.refreshToken).toBe(sim.activeRefreshToken('bob'));
  });
});
