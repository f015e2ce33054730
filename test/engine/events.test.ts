import { describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import type { Logger } from '../../src/core/logger.ts';
import { createKeeper } from '../../src/keeper/keeper.ts';
import { webhookEventFor } from '../../src/webhooks/events.ts';
import { fitbitHarness, fitbitWithConnection, rejection, stored } from './setup.ts';

const statusChanges = (events: KeeperEvent[]) =>
  events.flatMap((event) => (event.type === 'status_changed' ? [[event.from, event.to]] : []));

describe('status_changed: every change of status is announced, once', () => {
  it('a connection without a refresh token becomes needs_reauth with an event (webhook, metric, history)', async () => {
    const { keeper, name, sim } = await fitbitWithConnection();
    const events: KeeperEvent[] = [];
    keeper.onEvent((event) => events.push(event));
    // As when a Key Vault's RefreshToken secret is deleted while the connection's state secret remains.
    const before = await stored(keeper, name);
    await keeper.store.update({ ...before, tokens: { ...before.tokens, refreshToken: undefined } });

    const error = await rejection(keeper.refresh(name, { force: true }));

    expect(error).toMatchObject({
      code: 'needs_reauth',
      hint: { action: 'reconnect', connection: name, provider: 'fitbit' },
    });
    expect(sim.stats.tokenRequests).toBe(0);
    expect(await keeper.get(name)).toMatchObject({ status: 'needs_reauth', lastError: expect.any(String) });
    expect(statusChanges(events)).toEqual([['active', 'needs_reauth']]);
    expect(events.map(webhookEventFor).filter(Boolean)).toEqual([
      expect.objectContaining({ type: 'needs_reauth', status: 'needs_reauth', previousStatus: 'active' }),
    ]);
  });

  it('a failing streak is one change, and its end names the status it ended', async () => {
    const { keeper, name, sim, grant } = await fitbitWithConnection({
      sim: { graceMs: 0 },
      refresh: { maxAttempts: 2 },
    });
    const events: KeeperEvent[] = [];
    keeper.onEvent((event) => events.push(event));
    sim.inject({ kind: 'status', status: 503 }, 2);

    await expect(keeper.refresh(name)).rejects.toMatchObject({ code: 'provider_unavailable' });
    expect(events.filter((event) => event.type === 'refresh_failed')).toHaveLength(2);
    expect(statusChanges(events)).toEqual([['active', 'failing']]);

    sim.clearFaults();
    sim.seedGrant({ userId: grant.userId }); // the stored refresh token is dead now
    await expect(keeper.refresh(name, { force: true })).rejects.toMatchObject({ code: 'needs_reauth' });
    expect(statusChanges(events)).toEqual([
      ['active', 'failing'],
      ['failing', 'needs_reauth'],
    ]);
  });
});

describe('event listeners', () => {
  it('a listener that throws is logged; the refresh still succeeds and the other listeners still hear', async ({
    onTestFinished,
  }) => {
    const harness = await fitbitHarness();
    const logged: Array<{ fields: object; message: string }> = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (fields, message) => logged.push({ fields, message }),
    };
    const keeper = await createKeeper({
      config: harness.config,
      env: harness.env,
      logger,
      onEvent: () => {
        throw new Error('listener bug');
      },
    });
    onTestFinished(() => keeper.close());
    const heard: KeeperEvent[] = [];
    keeper.onEvent((event) => heard.push(event));
    const { name, grant } = await harness.addConnection(keeper);

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).not.toBe(grant.refreshToken);
    expect(saved.tokens.refreshToken).toBe(harness.sim.activeRefreshToken(grant.userId));
    expect(heard.map((event) => event.type)).toContain('refreshed');
    expect(logged).toContainEqual({
      fields: expect.objectContaining({ event: 'refreshed', connection: name, error: 'listener bug' }),
      message: 'an event listener threw; ignored',
    });
  });
});

describe('provider facts from the catalog', () => {
  it("a response without expires_in never outlives the provider's documented lifetime (Fitbit: 8 h)", async () => {
    const { keeper, name, sim } = await fitbitWithConnection({
      refresh: { defaultLifetimeSeconds: 24 * 3600 },
    });
    sim.inject({ kind: 'omit', fields: ['expires_in'] });
    const startedAt = Date.now();

    await keeper.refresh(name);

    const { expiresAt } = (await stored(keeper, name)).tokens;
    expect(expiresAt).toBeGreaterThanOrEqual(startedAt + 8 * 3_600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 8 * 3_600_000);
  });
});
