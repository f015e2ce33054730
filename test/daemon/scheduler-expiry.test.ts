/**
 * The single daemon's scheduler (SQLite store) and the lifecycle of refresh tokens: `expiring_soon` raised once
 * per warning window (across many ticks and a restart: the same id), raised when the window opens rather than at
 * the next refresh, and the per-provider keep-alive floor refreshing a connection whose access token is not due.
 * With the daemon's observers: one webhook per window (across restarts the webhook outbox dedupes on the id).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';
import type { KeeperEvent } from '../../src/core/events.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { startObservers } from '../../src/daemon/observers.ts';
import { runScheduler } from '../../src/daemon/scheduler.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import type { SeededGrant } from '../fakes/index.ts';
import { fitbitHarness } from '../engine/setup.ts';
import { startReceiver } from '../server/daemon.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A clock the test moves forward (the scheduler's sleeps stay real: it wakes every `maxSleepMs`). */
function movableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => (offset += ms) };
}

function expiringEvents(keeper: Keeper) {
  const events: Array<Extract<KeeperEvent, { type: 'expiring_soon' }>> = [];
  keeper.onEvent((event) => {
    if (event.type === 'expiring_soon') events.push(event);
  });
  return events;
}

/** Counts the scheduler's ticks: each lists the store once. */
function countLists(keeper: Keeper): { count: number } {
  const counter = { count: 0 };
  const list = keeper.store.list.bind(keeper.store);
  keeper.store.list = () => {
    counter.count++;
    return list();
  };
  return counter;
}

/** Runs the scheduler until `stopWhen` holds (checked every 10 ms; at most `timeoutMs`), then stops it. */
async function schedule(
  keeper: Keeper,
  maxSleepMs: number,
  stopWhen: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const stop = new AbortController();
  const running = runScheduler(keeper, {
    concurrency: 2,
    maxSleepMs,
    signal: stop.signal,
    logger: silentLogger,
  });
  const started = Date.now();
  while (!stopWhen() && Date.now() - started < timeoutMs)
    await new Promise((resolve) => setTimeout(resolve, 10));
  stop.abort();
  const stats = await running;
  expect(stats.failed).toBe(0);
}

/** Tokens of a seeded grant whose access token is good for `accessMs` from the keeper's `now`. */
function tokensOf(grant: SeededGrant, now: number, accessMs: number, refreshTokenExpiresAt?: number) {
  return {
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    obtainedAt: now,
    expiresAt: now + accessMs,
    providerUserId: grant.userId,
    ...(refreshTokenExpiresAt !== undefined && { refreshTokenExpiresAt }),
  };
}

describe('the daemon scheduler and expiring refresh tokens', () => {
  it('raises expiring_soon once per window: over many ticks, and with the same id after a restart', async () => {
    const h = await fitbitHarness();
    const clock = movableClock();
    const keeper = await h.openKeeper({ clock });
    const grant = h.sim.seedGrant();
    const now = clock.now();
    // Dies in 12 h: inside its 1-day window (a refresh token that lives 12 h gets a day's warning).
    await keeper.addConnection({
      name: 'dying',
      provider: 'fitbit',
      clientId: h.sim.clientId,
      clientSecret: h.sim.clientSecret,
      tokens: tokensOf(grant, now, 8 * HOUR, now + 12 * HOUR),
    });
    const lists = countLists(keeper);
    const events = expiringEvents(keeper);
    await schedule(keeper, 20, () => lists.count >= 20);
    expect(lists.count).toBeGreaterThanOrEqual(20);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      name: 'dying',
      provider: 'fitbit',
      what: 'refresh_token',
      expiresAt: now + 12 * HOUR,
    });
    expect((await keeper.get('dying'))?.expiringSoon).toBe(true);
    expect(h.sim.stats.refreshRequests).toBe(0);

    // A restarted daemon (a new keeper and scheduler on the same store) raises it again, with the same id: the
    // webhook outbox delivers an id once.
    await keeper.close();
    const restarted = await h.openKeeper({ clock });
    const again = expiringEvents(restarted);
    const relists = countLists(restarted);
    await schedule(restarted, 20, () => relists.count >= 20);
    expect(again).toEqual(events);
  });

  it('wakes when a warning window opens, not only at the next refresh', async () => {
    const h = await fitbitHarness();
    const keeper = await h.openKeeper();
    const grant = h.sim.seedGrant();
    const now = Date.now();
    const opensAt = now + 700;
    await keeper.addConnection({
      name: 'soon',
      provider: 'fitbit',
      clientId: h.sim.clientId,
      clientSecret: h.sim.clientSecret,
      // A refresh token that lives just over 7 days (so 7 days of warning): its window opens 0.7 s from now. The
      // access token is good for 8 h, so no refresh wakes the scheduler before its 60 s sleep would.
      tokens: tokensOf(grant, now, 8 * HOUR, opensAt + 7 * DAY),
    });
    const events = expiringEvents(keeper);
    const seen: number[] = [];
    keeper.onEvent((event) => {
      if (event.type === 'expiring_soon') seen.push(Date.now());
    });
    await schedule(keeper, 60_000, () => events.length > 0, 5_000);
    expect(events).toHaveLength(1);
    expect(seen[0]).toBeGreaterThanOrEqual(opensAt);
    expect(seen[0]).toBeLessThan(opensAt + 1_000);
  });

  it('refreshes a connection whose access token is far from due once the provider keep-alive (1 day) has passed', async () => {
    const h = await fitbitHarness();
    const clock = movableClock();
    const fitbit = h.config.providers?.fitbit;
    const config = { ...h.config, providers: { fitbit: { ...fitbit, keepAliveDays: 1 } } };
    const keeper = await createKeeper({ config, env: h.env, clock });
    onTestFinished(() => keeper.close());
    const grant = h.sim.seedGrant();
    // A 30-day access token: by its own margin (10 %: 3 days) it is due in 27 days.
    await keeper.addConnection({
      name: 'idle',
      provider: 'fitbit',
      clientId: h.sim.clientId,
      clientSecret: h.sim.clientSecret,
      tokens: tokensOf(grant, clock.now(), 30 * DAY),
    });
    const lists = countLists(keeper);
    await schedule(keeper, 20, () => lists.count >= 10);
    expect(h.sim.stats.refreshRequests).toBe(0);

    clock.advance(DAY - 60_000);
    const before = lists.count;
    await schedule(keeper, 20, () => lists.count >= before + 10);
    expect(h.sim.stats.refreshRequests).toBe(0);

    clock.advance(2 * 60_000);
    await schedule(keeper, 20, () => h.sim.stats.refreshSuccesses > 0);
    expect(h.sim.stats.refreshSuccesses).toBe(1);
    const after = lists.count;
    await schedule(keeper, 20, () => lists.count >= after + 10);
    expect(h.sim.stats.refreshRequests).toBe(1);
    expect((await keeper.get('idle'))?.lastRefreshAt).toBeGreaterThan(clock.now() - 60_000);
  });

  it('sends the expiring_soon webhook of a connection in its window once, however many ticks see it', async () => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const h = await fitbitHarness();
    const env = { ...h.env, HOOK_SECRET: generateWebhookSecret() };
    const config = {
      ...h.config,
      webhooks: { endpoints: [{ url: receiver.url, secret: 'env:HOOK_SECRET' }] },
    };
    const keeper = await createKeeper({ config, env });
    onTestFinished(() => keeper.close());
    const observers = await startObservers(keeper, silentLogger, env);
    onTestFinished(() => observers.unsubscribe());
    const grant = h.sim.seedGrant();
    const now = Date.now();
    await keeper.addConnection({
      name: 'dying',
      provider: 'fitbit',
      clientId: h.sim.clientId,
      clientSecret: h.sim.clientSecret,
      tokens: tokensOf(grant, now, 8 * HOUR, now + 12 * HOUR),
    });
    const lists = countLists(keeper);
    await schedule(keeper, 20, () => lists.count >= 30);
    await observers.dispatcher.drain(5_000);
    expect(receiver.attempts.map((hook) => [hook.json.type, hook.json.connection])).toEqual([
      ['expiring_soon', { name: 'dying', provider: 'fitbit' }],
    ]);
    expect(receiver.received[0]?.json).toMatchObject({
      expiring: { what: 'refresh_token', at: new Date(now + 12 * HOUR).toISOString() },
    });
  });
});
