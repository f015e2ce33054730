import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ProviderSettings } from '../../src/config/schema.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import {
  startSimulatedSpotify,
  startSimulatedWithings,
  type SimulatedOAuthProvider,
} from '../fakes/index.ts';
import { KEY_A } from './setup.ts';

const DAY_MS = 86_400_000;

/** A keeper on a fresh data dir whose `providerId` is the simulator (closed, with the simulator, after the test). */
async function keeperFor(sim: SimulatedOAuthProvider, providerId: string, settings: ProviderSettings) {
  onTestFinished(() => sim.close());
  const dir = await mkdtemp(join(tmpdir(), 'tokenkeeper-lifetimes-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const keeper = await createKeeper({
    config: { providers: { [providerId]: { authorizationUrl: sim.authorizeUrl, ...settings } } },
    env: { TOKENKEEPER_HOME: dir, TOKENKEEPER_KEY: KEY_A },
  });
  onTestFinished(() => keeper.close());
  return keeper;
}

async function importGrant(
  keeper: Keeper,
  sim: SimulatedOAuthProvider,
  provider: string,
  options: { publicClient?: boolean; refreshTokenExpiresAt?: number } = {},
): Promise<string> {
  const seed = sim.seedGrant({ publicClient: options.publicClient });
  await keeper.addConnection({
    name: 'me',
    provider,
    clientId: sim.clientId,
    ...(!options.publicClient && { clientSecret: sim.clientSecret }),
    tokens: {
      refreshToken: seed.refreshToken,
      ...(options.refreshTokenExpiresAt !== undefined && {
        refreshTokenExpiresAt: options.refreshTokenExpiresAt,
      }),
    },
  });
  return 'me';
}

describe('refresh-token lifetimes through a refresh', () => {
  it("Withings: each rotated refresh token gets the catalog's year; refresh_token_expires_in in the wrapped body wins", async () => {
    const withings = await startSimulatedWithings();
    const keeper = await keeperFor(withings, 'withings', { tokenUrl: `${withings.url}/v2/oauth2` });
    const summary = await keeper.refresh(await importGrant(keeper, withings, 'withings'), { force: true });
    expect(summary.refreshTokenExpiresAt).toBeGreaterThan(Date.now() + 364.9 * DAY_MS);
    expect(summary.refreshTokenExpiresAt).toBeLessThanOrEqual(Date.now() + 365 * DAY_MS);

    const announcing = await startSimulatedWithings({ refreshTokenExpiresInSeconds: 3 * 86_400 });
    const told = await keeperFor(announcing, 'withings', { tokenUrl: `${announcing.url}/v2/oauth2` });
    const explicit = await told.refresh(await importGrant(told, announcing, 'withings'), { force: true });
    expect(explicit.refreshTokenExpiresAt).toBeGreaterThan(Date.now() + 2.9 * DAY_MS);
    expect(explicit.refreshTokenExpiresAt).toBeLessThanOrEqual(Date.now() + 3 * DAY_MS);
  });

  it('Spotify PKCE: rotated refresh tokens keep the six months counted from consent; unknown for an import', async () => {
    const spotify = await startSimulatedSpotify();
    const keeper = await keeperFor(spotify, 'spotify', { tokenUrl: spotify.tokenUrl });
    const consentEnds = Date.now() + 170 * DAY_MS;
    const name = await importGrant(keeper, spotify, 'spotify', {
      publicClient: true,
      refreshTokenExpiresAt: consentEnds,
    });
    const first = await keeper.refresh(name, { force: true });
    expect(first.refreshTokenExpiresAt).toBe(consentEnds);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await keeper.refresh(name, { force: true });
    expect(spotify.stats.refreshSuccesses).toBe(2);
    expect(second.refreshTokenExpiresAt).toBe(consentEnds);

    // Imported without an expiry: when its consent was is not known, so neither is when it dies (not 180 days on).
    await keeper.remove(name);
    const imported = await importGrant(keeper, spotify, 'spotify', { publicClient: true });
    expect((await keeper.refresh(imported, { force: true })).refreshTokenExpiresAt).toBeUndefined();
  });
});
