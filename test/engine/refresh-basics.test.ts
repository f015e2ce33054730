import { describe, expect, it } from 'vitest';
import {
  apiStatus,
  fitbitHarness,
  fitbitWithConnection,
  googleHarness,
  rawFitbitRefresh,
  stored,
} from './setup.ts';

describe('accessToken', () => {
  it('refreshes an imported connection once and then serves the saved token without calling the provider', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection();

    const token = await keeper.accessToken(name);
    expect(token).not.toBe(grant.accessToken);
    expect(await apiStatus(sim, token)).toBe(200);
    expect(sim.stats.refreshRequests).toBe(1);

    const again = await keeper.accessToken(name);
    expect(again).toBe(token);
    expect(sim.stats.tokenRequests).toBe(1);

    const summary = await keeper.get(name);
    expect(summary?.status).toBe('active');
    expect(summary?.account).toBe(grant.userId);
    expect(summary?.expiresAt).toBeGreaterThan(Date.now() + 7 * 3_600_000);
  });

  it('coalesces 20 concurrent calls on a due connection into exactly one provider call', async () => {
    const { keeper, sim, name } = await fitbitWithConnection();

    const tokens = await Promise.all(Array.from({ length: 20 }, () => keeper.accessToken(name)));

    expect(sim.stats.tokenRequests).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(await apiStatus(sim, tokens[0] as string)).toBe(200);
  });

  it('serialises forced refreshes of two keepers sharing one store file (no double spend)', async () => {
    // No grace window: an unserialised double refresh of a single-use token would surface as invalid_grant.
    const harness = await fitbitHarness({ sim: { graceMs: 0 } });
    const first = await harness.openKeeper();
    const second = await harness.openKeeper();
    const { name, grant } = await harness.addConnection(first);

    for (let round = 0; round < 5; round++) {
      const results = await Promise.all([
        first.refresh(name, { force: true }),
        second.refresh(name, { force: true }),
      ]);
      expect(results.map((result) => result.status)).toEqual(['active', 'active']);
    }

    const { sim } = harness;
    expect(sim.stats.invalidGrant).toBe(0);
    expect(sim.stats.graceReplays).toBe(0);
    // Each round spends one or two tokens, one after the other.
    expect(sim.stats.refreshSuccesses).toBeGreaterThanOrEqual(5);
    const saved = await stored(second, name);
    expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(await apiStatus(sim, await first.accessToken(name))).toBe(200);
  });
});

describe('rotation', () => {
  it('Fitbit: stores the rotated refresh token; the old one is dead at the provider', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({ sim: { graceMs: 0 } });

    await keeper.refresh(name);

    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).toBeDefined();
    expect(saved.tokens.refreshToken).not.toBe(grant.refreshToken);
    expect(sim.activeRefreshToken(grant.userId)).toBe(saved.tokens.refreshToken);
    const reuse = await rawFitbitRefresh(sim, grant.refreshToken);
    expect(reuse.status).toBe(400);
    expect(reuse.text).toContain('invalid_grant');

    // …and the stored one keeps working.
    const before = sim.stats.invalidGrant;
    await keeper.refresh(name, { force: true });
    expect(sim.stats.invalidGrant).toBe(before);
    const next = await stored(keeper, name);
    expect(next.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(next.tokens.refreshToken).not.toBe(saved.tokens.refreshToken);
  });

  it('Google: a refresh response without refresh_token keeps the old one, which still works', async () => {
    const harness = await googleHarness();
    const keeper = await harness.openKeeper();
    const { name, grant } = await harness.addConnection(keeper);
    const { sim } = harness;

    const token = await keeper.accessToken(name);
    expect(await apiStatus(sim, token)).toBe(200);
    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).toBe(grant.refreshToken);
    expect(saved.tokens.accessToken).toBe(token);
    expect(sim.activeRefreshToken(grant.userId)).toBe(grant.refreshToken);

    const summary = await keeper.refresh(name, { force: true });
    expect(summary.status).toBe('active');
    expect(sim.stats.refreshSuccesses).toBe(2);
    expect(sim.stats.invalidGrant).toBe(0);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(grant.refreshToken);
  });
});

describe('missing expires_in', () => {
  it('assumes the configured default lifetime, so the token becomes due again', async () => {
    let now = Date.UTC(2026, 0, 1, 10, 0, 0);
    const clock = { now: () => now };
    const { keeper, sim, name } = await fitbitWithConnection({
      refresh: { defaultLifetimeSeconds: 1234 },
      keeper: { clock },
    });
    const body = {
      access_token: 'x-access-without-expiry-0001',
      token_type: 'Bearer',
      refresh_token: 'x-refresh-without-expiry-0001',
    };
    sim.inject({ kind: 'status', status: 200, body });

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect(summary.expiresAt).toBe(now + 1234 * 1000);
    const saved = await stored(keeper, name);
    expect(saved.tokens.accessToken).toBe(body.access_token);
    expect(saved.tokens.refreshToken).toBe(body.refresh_token);

    // Not due right away…
    expect(await keeper.accessToken(name)).toBe(body.access_token);
    expect(sim.stats.tokenRequests).toBe(1);
    // …but due once the assumed lifetime is nearly over (never "no expiry"): the still-valid token is served
    // while its renewal runs in the background.
    now += 1234 * 1000 - 60_000;
    sim.inject({
      kind: 'status',
      status: 200,
      body: { ...body, access_token: 'x-access-without-expiry-0002' },
    });
    expect(await keeper.accessToken(name)).toBe(body.access_token);
    await keeper.idle();
    expect(sim.stats.tokenRequests).toBe(2);
    expect(await keeper.accessToken(name)).toBe('x-access-without-expiry-0002');
    expect(sim.stats.tokenRequests).toBe(2);
  });
});

describe('reconnect', () => {
  it('a consent that returns no refresh token keeps the old, still valid one; a dead one is refused', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection();
    const before = await stored(keeper, name);

    await keeper.reconnect({
      name,
      provider: 'fitbit',
      clientId: before.clientId,
      clientSecret: before.clientSecret,
      tokens: { accessToken: 'fa_new-access-token-without-refresh', expiresAt: Date.now() + 3_600_000 },
    });
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(grant.refreshToken);
    const refreshed = await keeper.refresh(name, { force: true });
    expect(refreshed.status).toBe('active');
    expect(sim.stats.invalidGrant).toBe(0);

    const current = await stored(keeper, name);
    await keeper.store.update({ ...current, status: 'needs_reauth' });
    await expect(
      keeper.reconnect({
        name,
        provider: 'fitbit',
        clientId: current.clientId,
        clientSecret: current.clientSecret,
        tokens: { accessToken: 'fa_another-access-token-without-refresh' },
      }),
    ).rejects.toMatchObject({ code: 'needs_reauth' });
    expect((await stored(keeper, name)).status).toBe('needs_reauth');
  });
});
