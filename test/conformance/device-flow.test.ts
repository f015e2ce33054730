import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenkeeperError } from '../../src/core/errors.ts';
import {
  connectWithDevice,
  pollDeviceToken,
  requestDeviceAuthorization,
} from '../../src/flows/device-flow.ts';
import { startSimulatedOAuth2, type SimulatedOAuthProvider } from '../fakes/index.ts';
import { keeperFactory, movableClock, stored } from './harness.ts';

// RFC 8628 polling rules against the strict generic server (interval 1 s, public client).
const clock = movableClock();
let sim: SimulatedOAuthProvider;
const keepers = keeperFactory('acme', () => ({
  extends: 'oauth2',
  tokenUrl: sim.tokenUrl,
  deviceAuthorizationUrl: sim.deviceAuthorizationUrl,
  scopes: ['read'],
}));

beforeAll(async () => {
  sim = await startSimulatedOAuth2({ now: clock.now, userId: 'device-user' });
});
afterEach(async () => {
  sim.clearFaults();
  await keepers.cleanup();
});
afterAll(async () => {
  await sim?.close();
});

/** Polls with a recording wait: the intervals the client chose, without spending them in real time. */
async function pollRecordingWaits(before: (userCode: string) => void) {
  const keeper = await keepers.open();
  const endpoint = {
    provider: keeper.providers.get('acme'),
    clientId: sim.clientId,
    timeoutMs: 2_000,
    maxBodyBytes: 65_536,
  };
  const device = await requestDeviceAuthorization({ ...endpoint, scopes: ['read'] });
  before(device.userCode);
  const waits: number[] = [];
  const response = await pollDeviceToken({
    ...endpoint,
    device,
    wait: async (ms) => {
      waits.push(ms);
      clock.advance(ms); // the provider sees the time pass
    },
  });
  return { response, waits };
}

describe('device authorization grant (RFC 8628)', () => {
  it('waits the interval the provider gave, and slow_down adds 5 seconds to it', async () => {
    const { response, waits } = await pollRecordingWaits((userCode) => {
      sim.demandSlowDown();
      sim.approveDevice(userCode);
    });
    expect(waits).toEqual([1_000, 6_000]);
    expect(response.refreshToken).toBe(sim.activeRefreshToken('device-user'));
  });

  it('keeps polling through authorization_pending and a 503 (doubling the interval)', async () => {
    let code = '';
    const pending = pollRecordingWaits((userCode) => {
      code = userCode;
      sim.inject({ kind: 'status', status: 503 });
    });
    // Approve only after the client has polled twice (503, then authorization_pending).
    while (sim.stats.devicePolls < 1 || sim.stats.faultsServed < 1)
      await new Promise((r) => setTimeout(r, 10));
    const polls = sim.stats.devicePolls;
    while (sim.stats.devicePolls < polls + 1) await new Promise((r) => setTimeout(r, 10));
    sim.approveDevice(code);
    const { waits, response } = await pending;
    expect(waits.slice(0, 2)).toEqual([1_000, 2_000]);
    expect(response.accessToken).toBeTruthy();
  });

  it('connects through the keeper and saves the connection', async () => {
    const keeper = await keepers.open();
    const summary = await connectWithDevice(keeper, {
      provider: 'acme',
      name: 'tv',
      clientId: sim.clientId,
      scopes: ['read'],
      presentUserCode: (device) => void sim.approveDevice(device.userCode),
    });
    expect(summary.status).toBe('active');
    expect((await stored(keeper, 'tv')).tokens.refreshToken).toBe(sim.activeRefreshToken('device-user'));
  });

  it('an expired device code ends the flow with a timeout error and saves nothing', async () => {
    const keeper = await keepers.open();
    const error = await connectWithDevice(keeper, {
      provider: 'acme',
      name: 'expired',
      clientId: sim.clientId,
      scopes: ['read'],
      presentUserCode: () => clock.advance(601_000), // the user never came back
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenkeeperError);
    expect(error).toMatchObject({ code: 'timeout' });
    expect((error as Error).message).toContain('device code expired');
    expect(await keeper.get('expired')).toBeUndefined();
  });

  it('a client the provider does not know is an invalid_client error before any code is shown', async () => {
    const keeper = await keepers.open();
    let shown = false;
    const error = await connectWithDevice(keeper, {
      provider: 'acme',
      name: 'unknown',
      clientId: 'not-registered',
      scopes: ['read'],
      presentUserCode: () => {
        shown = true;
      },
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'invalid_client' });
    expect(shown).toBe(false);
  });
});
