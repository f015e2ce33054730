import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Fault } from '../fakes/index.ts';
import { apiStatus, fitbitWithConnection, rawFitbitRefresh, stored } from './setup.ts';

describe('lost token response (the provider rotated, the answer never arrived)', () => {
  const lostAnswers: Array<{ label: string; fault: Fault; rotated: boolean }> = [
    { label: 'rotate-then-hang (timeout)', fault: { kind: 'rotate-then-hang' }, rotated: true },
    {
      label: 'rotate-then-status 502',
      fault: { kind: 'rotate-then-status', status: 502 },
      rotated: true,
    },
    // A reset arrives before the simulator processes the request: nothing was spent, the retry is a plain refresh.
    { label: 'reset (connection cut)', fault: { kind: 'reset' }, rotated: false },
  ];

  for (const { label, fault, rotated } of lostAnswers) {
    it(`${label}: retries the same refresh token inline and keeps the connection`, async () => {
      const { keeper, sim, name, grant } = await fitbitWithConnection({
        refresh: { timeoutSeconds: 1 },
      });
      sim.inject(fault);

      const summary = await keeper.refresh(name);

      expect(summary.status).toBe('active');
      expect(summary.failureCount).toBe(0);
      expect(summary.refreshInProgress).toBe(false);
      expect(sim.stats.invalidGrant).toBe(0);
      expect(sim.stats.graceReplays).toBe(rotated ? 1 : 0);
      expect(sim.stats.refreshSuccesses).toBe(1);
      const saved = await stored(keeper, name);
      expect(saved.tokens.refreshToken).not.toBe(grant.refreshToken);
      expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
      expect(saved.pending).toBeUndefined();
      expect(await apiStatus(sim, saved.tokens.accessToken as string)).toBe(200);
    });
  }
});

describe('crash recovery from a write-ahead record', () => {
  it('a pending attempt whose token the provider already rotated is recovered via the grace window', async () => {
    // The connection is fresh (not due): only the write-ahead record says a refresh was left unfinished.
    const { keeper, sim, name, grant } = await fitbitWithConnection({
      connection: { withAccessToken: true },
    });
    const before = await stored(keeper, name);
    // The crashed process: write-ahead record saved, token endpoint called (token rotated), then it died.
    await keeper.store.update({
      ...before,
      status: 'refreshing',
      pending: {
        attemptId: randomUUID(),
        refreshToken: grant.refreshToken,
        startedAt: Date.now(),
        owner: 'crashed-host:999999:deadbeef',
      },
    });
    const lost = await rawFitbitRefresh(sim, grant.refreshToken);
    expect(lost.status).toBe(200);
    expect((await keeper.get(name))?.refreshInProgress).toBe(true);

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect(summary.refreshInProgress).toBe(false);
    const saved = await stored(keeper, name);
    expect(saved.tokens.accessToken).toBe(lost.body.access_token);
    expect(saved.tokens.refreshToken).toBe(lost.body.refresh_token);
    expect(saved.tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(sim.stats.graceReplays).toBe(1);
    expect(sim.stats.invalidGrant).toBe(0);
    expect(await apiStatus(sim, saved.tokens.accessToken as string)).toBe(200);
  });

  it('accessToken also finishes an unfinished attempt before handing out a token', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({
      connection: { withAccessToken: true },
    });
    const before = await stored(keeper, name);
    await keeper.store.update({
      ...before,
      status: 'refreshing',
      pending: {
        attemptId: randomUUID(),
        refreshToken: grant.refreshToken,
        startedAt: Date.now(),
        owner: 'crashed-host:999999:deadbeef',
      },
    });
    const lost = await rawFitbitRefresh(sim, grant.refreshToken);

    const token = await keeper.accessToken(name);

    expect(token).toBe(lost.body.access_token);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
    expect(sim.stats.invalidGrant).toBe(0);
  });
});

describe('an attempt whose outcome stayed unknown after the call gave up', () => {
  it('is retried with the same refresh token by the next refresh call (grace window), not declared dead', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({
      refresh: { timeoutSeconds: 1, maxAttempts: 1 },
    });
    sim.inject({ kind: 'rotate-then-hang' });

    const error = await keeper.refresh(name).then(
      () => undefined,
      (caught: unknown) => caught as { code?: string },
    );
    expect(error?.code).toBe('timeout');
    const failed = await stored(keeper, name);
    expect(failed.status).toBe('failing');
    expect(failed.pending?.refreshToken).toBe(grant.refreshToken);
    // The provider already rotated: the stored token is spent, the new one exists only at the provider.
    expect(sim.activeRefreshToken(grant.userId)).not.toBe(grant.refreshToken);

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect(sim.stats.graceReplays).toBe(1);
    expect(sim.stats.invalidGrant).toBe(0);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
  });
});

describe('write-ahead record of an attempt that never reached the provider', () => {
  it('recovers with a plain refresh of the same token', async () => {
    const { keeper, sim, name, grant } = await fitbitWithConnection({
      connection: { withAccessToken: true },
    });
    const before = await stored(keeper, name);
    await keeper.store.update({
      ...before,
      status: 'refreshing',
      pending: {
        attemptId: randomUUID(),
        refreshToken: grant.refreshToken,
        startedAt: Date.now(),
        owner: 'crashed-host:999999:deadbeef',
      },
    });

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    expect(sim.stats.refreshSuccesses).toBe(1);
    expect(sim.stats.graceReplays).toBe(0);
    expect((await stored(keeper, name)).tokens.refreshToken).toBe(sim.activeRefreshToken(grant.userId));
  });

  it('past the grace window the spent token is rejected: needs_reauth, not an endless retry', async () => {
    let simNow = Date.now();
    const { keeper, sim, name, grant } = await fitbitWithConnection({
      sim: { now: () => simNow },
      connection: { withAccessToken: true },
    });
    const before = await stored(keeper, name);
    await keeper.store.update({
      ...before,
      status: 'refreshing',
      pending: {
        attemptId: randomUUID(),
        refreshToken: grant.refreshToken,
        startedAt: Date.now(),
        owner: 'crashed-host:999999:deadbeef',
      },
    });
    expect((await rawFitbitRefresh(sim, grant.refreshToken)).status).toBe(200);
    simNow += 3 * 60_000; // Fitbit's grace is ~2 minutes

    const error = await keeper.refresh(name).then(
      () => undefined,
      (caught: unknown) => caught as { code?: string },
    );

    expect(error?.code).toBe('needs_reauth');
    expect(sim.stats.refreshRequests).toBe(2);
    expect((await keeper.get(name))?.status).toBe('needs_reauth');
  });
});

describe('an unknown outcome after a long outage', () => {
  it('is retried within 30 s however many failures came before, so the grace window still holds', async () => {
    const { keeper, sim, name } = await fitbitWithConnection({
      refresh: { timeoutSeconds: 1, maxAttempts: 1 },
    });
    const before = await stored(keeper, name);
    await keeper.store.update({ ...before, status: 'failing', failureCount: 9 });
    sim.inject({ kind: 'rotate-then-hang' });

    await expect(keeper.refresh(name, { force: true })).rejects.toMatchObject({ code: 'timeout' });

    const after = await stored(keeper, name);
    expect(after.pending).toBeDefined();
    expect(after.failureCount).toBe(10);
    expect((after.nextAttemptAt as number) - Date.now()).toBeLessThanOrEqual(30_000);
    const recovered = await keeper.refresh(name);
    expect(recovered.status).toBe('active');
    expect(sim.stats.graceReplays).toBe(1);
    expect(sim.stats.invalidGrant).toBe(0);
  });
});
