import { describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import type { TokenkeeperError } from '../../src/core/errors.ts';
import { apiStatus, fitbitWithConnection, rawFitbitRefresh, rejection, stored } from './setup.ts';

describe('transient provider failures', () => {
  it('503 then OK: succeeds with two provider calls', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection();
    sim.inject({ kind: 'status', status: 503 });

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect(summary.failureCount).toBe(0);
    expect(summary.lastError).toBeUndefined();
    expect(sim.stats.refreshRequests).toBe(2);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
  });

  it('429 with Retry-After: 1 waits at least one second before the second attempt', async () => {
    const { keeper, sim, name } = await fitbitWithConnection();
    sim.inject({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    const attempts = sim.stats.requests.filter((request) => request.path === '/oauth2/token');
    expect(attempts.map((request) => request.status)).toEqual([429, 200]);
    const [first, second] = attempts.map((request) => request.at) as [number, number];
    expect(second - first).toBeGreaterThanOrEqual(990);
  });

  it('persistent 5xx: provider_unavailable, status failing with backoff; works again once the provider recovers', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({ refresh: { maxAttempts: 2 } });
    sim.inject({ kind: 'status', status: 503 }, 5);

    const error = await rejection(keeper.refresh(name));

    expect(error.code).toBe('provider_unavailable');
    expect(sim.stats.refreshRequests).toBe(2);
    const failing = await keeper.get(name);
    expect(failing?.status).toBe('failing');
    expect(failing?.failureCount).toBe(2);
    expect(failing?.lastError).toMatch(/503/);
    expect(failing?.lastErrorAt).toBeDefined();
    const raw = await stored(keeper, name);
    expect(raw.nextAttemptAt).toBeGreaterThan(Date.now());
    expect(raw.tokens.refreshToken).toBe(grant.refreshToken);

    sim.clearFaults();
    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect(summary.failureCount).toBe(0);
    expect(summary.lastError).toBeUndefined();
    expect(sim.stats.invalidGrant).toBe(0);
    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(saved.nextAttemptAt).toBeUndefined();
  });
});

describe('invalid_grant', () => {
  it('marks the connection needs_reauth, stops calling the provider and never reveals the refresh token', async () => {
    const events: KeeperEvent[] = [];
    const { keeper, sim, name, grant } = await fitbitWithConnection({ sim: { graceMs: 0 } });
    keeper.onEvent((event) => events.push(event));
    // The user connected again elsewhere: the stored refresh token is dead.
    sim.seedGrant({ userId: grant.userId });

    const error = await rejection(keeper.refresh(name));

    expect(error.code).toBe('needs_reauth');
    expect(sim.stats.invalidGrant).toBe(1);
    const summary = await keeper.get(name);
    expect(summary?.status).toBe('needs_reauth');
    expect(summary?.lastError).toMatch(/invalid_grant/);

    const requests = sim.stats.tokenRequests;
    const later = await rejection(keeper.accessToken(name));
    expect(later.code).toBe('needs_reauth');
    const forced = await rejection(keeper.refresh(name, { force: true }));
    expect(forced.code).toBe('needs_reauth');
    expect(sim.stats.tokenRequests).toBe(requests);

    // The simulated Fitbit really echoes the token in its error text…
    const echoed = await rawFitbitRefresh(sim, grant.refreshToken);
    expect(echoed.text).toContain(grant.refreshToken);
    // …and none of what tokenkeeper shows carries it.
    const shown = [
      error.message,
      String((error as { cause?: unknown }).cause),
      later.message,
      forced.message,
      JSON.stringify(summary),
      JSON.stringify(await keeper.status()),
      JSON.stringify(events),
      (await stored(keeper, name)).lastError ?? '',
    ].join('\n');
    expect(shown).not.toContain(grant.refreshToken);
    expect(shown).not.toContain(sim.clientSecret as string);
  });
});

describe('provider retired (410 Gone)', () => {
  it('surfaces provider_retired pointing to google-health and stops retrying', async () => {
    const { keeper, sim, name } = await fitbitWithConnection();
    sim.setRetired(true);

    const error = await rejection(keeper.refresh(name));

    expect(error.code).toBe('provider_retired');
    expect(error.message).toContain('google-health');
    expect(sim.stats.tokenRequests).toBe(1);
    const summary = await keeper.get(name);
    expect(summary?.status).toBe('provider_retired');
    expect(summary?.nextRefreshAt).toBeUndefined();

    const later = await rejection(keeper.accessToken(name));
    expect(later.code).toBe('provider_retired');
    expect(sim.stats.tokenRequests).toBe(1);
  });
});

describe('forced refresh of a retired connection (issue 12: cleared only by a normal answer)', () => {
  it('a 503 leaves it retired with its successor and no scheduled retry; a normal answer makes it active', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({ refresh: { maxAttempts: 2 } });
    const events: KeeperEvent[] = [];
    keeper.onEvent((event) => events.push(event));
    sim.setRetired(true);
    expect((await rejection(keeper.refresh(name))).code).toBe('provider_retired');
    sim.setRetired(false);
    sim.inject({ kind: 'status', status: 503 }, 50);

    const error = await rejection(keeper.refresh(name, { force: true }));

    expect(error.code).toBe('provider_retired');
    expect(error.message).toMatch(/stays retired.*503/);
    expect((error as TokenkeeperError).hint).toMatchObject({
      action: 'reconnect',
      provider: 'google-health',
      retiredProvider: 'fitbit',
    });
    expect(sim.stats.refreshRequests).toBe(2);
    const after = await keeper.get(name);
    expect(after?.status).toBe('provider_retired');
    expect(after?.successor).toBe('google-health');
    expect(after?.nextRefreshAt).toBeUndefined();
    expect((await stored(keeper, name)).nextAttemptAt).toBeUndefined();
    expect(events.filter((event) => event.type === 'status_changed').map((event) => event.to)).toEqual([
      'provider_retired',
    ]);
    // Nothing but a person retries it: on-demand tokens still refuse without calling the provider.
    expect((await rejection(keeper.accessToken(name))).code).toBe('provider_retired');
    expect(sim.stats.refreshRequests).toBe(2);

    sim.clearFaults();
    const recovered = await keeper.refresh(name, { force: true });

    expect(recovered.status).toBe('active');
    expect(recovered.successor).toBeUndefined();
    expect(recovered.nextRefreshAt).toBeDefined();
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
  });

  it('a rotation whose answer was lost stays retired with its write-ahead record; the next forced refresh recovers it', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({ refresh: { maxAttempts: 1 } });
    sim.setRetired(true);
    await rejection(keeper.refresh(name));
    sim.setRetired(false);
    sim.inject({ kind: 'rotate-then-status', status: 503 });

    const error = await rejection(keeper.refresh(name, { force: true }));

    expect(error.code).toBe('provider_retired');
    expect(error.message).toMatch(/force a refresh again soon/);
    const left = await stored(keeper, name);
    expect(left.status).toBe('provider_retired');
    expect(left.pending?.refreshToken).toBe(grant.refreshToken);
    expect(sim.activeRefreshToken(grant.userId)).not.toBe(grant.refreshToken);

    const recovered = await keeper.refresh(name, { force: true });

    expect(recovered.status).toBe('active');
    expect(sim.stats.invalidGrant).toBe(0);
    const saved = await stored(keeper, name);
    expect(saved.pending).toBeUndefined();
    expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
  });

  it('stays retired while the forced refresh runs, so a crash then leaves it to a person, not to crash recovery', async () => {
    const { keeper, sim, name } = await fitbitWithConnection();
    sim.setRetired(true);
    await rejection(keeper.refresh(name));
    sim.setRetired(false);
    sim.inject({ kind: 'delay', ms: 400 });

    const forced = keeper.refresh(name, { force: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const during = await stored(keeper, name);

    expect(during.status).toBe('provider_retired');
    expect(during.pending).toBeDefined();
    expect((await keeper.get(name))?.nextRefreshAt).toBeUndefined();
    expect((await forced).status).toBe('active');
  });

  it('a connection the provider refuses to reach keeps no write-ahead record; invalid_grant still means needs_reauth', async () => {
    const { keeper, sim, name } = await fitbitWithConnection({
      refresh: { maxAttempts: 1 },
      sim: { graceMs: 0 },
    });
    sim.setRetired(true);
    await rejection(keeper.refresh(name));
    sim.setRetired(false);
    sim.inject({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });

    expect((await rejection(keeper.refresh(name, { force: true }))).code).toBe('provider_retired');
    const left = await stored(keeper, name);
    expect(left.status).toBe('provider_retired');
    expect(left.pending).toBeUndefined();

    sim.seedGrant({ userId: 'USER01' });
    expect((await rejection(keeper.refresh(name, { force: true }))).code).toBe('needs_reauth');
    expect((await keeper.get(name))?.status).toBe('needs_reauth');
  });
});

describe('invalid_client', () => {
  it('is a configuration error: the connection is not needs_reauth and its refresh token stays valid', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({
      connection: { clientSecret: 'not-the-client-secret' },
    });

    const error = await rejection(keeper.refresh(name));

    expect(error.code).toBe('invalid_client');
    expect(error.message).not.toContain('not-the-client-secret');
    expect(sim.stats.refreshRequests).toBe(1);
    const summary = await keeper.get(name);
    expect(summary?.status).not.toBe('needs_reauth');
    expect(summary?.lastError).toMatch(/client/);
    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).toBe(grant.refreshToken);
    expect(sim.activeRefreshToken(grant.userId)).toBe(grant.refreshToken);
    // Fixed credentials would work with the very same token.
    const fixed = await rawFitbitRefresh(sim, grant.refreshToken);
    expect(fixed.status).toBe(200);
  });
});

describe('unusable success responses', () => {
  const cases = [
    { label: 'a non-JSON body', fault: { kind: 'garbage' } as const },
    { label: 'a body over maxResponseBytes', fault: { kind: 'oversized', bytes: 200_000 } as const },
  ];
  for (const { label, fault } of cases) {
    it(`${label}: bad_provider_response, nothing overwritten, works after the fault clears`, async () => {
      const { keeper, sim, name, grant } = await fitbitWithConnection({
        refresh: { maxAttempts: 1, maxResponseBytes: 4096 },
      });
      await keeper.refresh(name);
      const before = await stored(keeper, name);
      sim.inject(fault, 3);

      const error = await rejection(keeper.refresh(name, { force: true }));

      expect(error.code).toBe('bad_provider_response');
      const after = await stored(keeper, name);
      expect(after.tokens).toEqual(before.tokens);
      expect(after.status).not.toBe('needs_reauth');
      expect(sim.activeRefreshToken(grant.userId)).toBe(before.tokens.refreshToken);

      sim.clearFaults();
      const summary = await keeper.refresh(name, { force: true });

      expect(summary.status).toBe('active');
      expect(sim.stats.invalidGrant).toBe(0);
      const saved = await stored(keeper, name);
      expect(saved.tokens.refreshToken).not.toBe(before.tokens.refreshToken);
      expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
      expect(await apiStatus(sim, saved.tokens.accessToken as string)).toBe(200);
    });
  }
});

describe('backoff across calls', () => {
  it('after a 429 with Retry-After, further on-demand refreshes wait for it instead of calling the provider', async () => {
    const { keeper, sim, name } = await fitbitWithConnection({ refresh: { maxAttempts: 1 } });
    sim.inject({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });

    expect((await rejection(keeper.refresh(name))).code).toBe('provider_unavailable');
    const second = await rejection(keeper.refresh(name));
    const third = await rejection(keeper.accessToken(name));

    expect(second.message).toMatch(/backing off .* next attempt in 3[56]\d\d s/);
    expect(third.code).toBe('provider_unavailable');
    expect(sim.stats.refreshRequests).toBe(1);
    const forced = await keeper.refresh(name, { force: true });
    expect(forced.status).toBe('active');
    expect(sim.stats.refreshRequests).toBe(2);
  });
});
