/**
 * The webhook outbox contract (src/core/outbox.ts) every outbox passes — memory, SQLite, PostgreSQL — and the
 * dispatcher's retry rules over each of them: backoff, Retry-After, the retry window after the event (on a clock
 * the test moves), and a restart that finds what a shutdown left pending.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/core/logger.ts';
import type { ClaimDeliveries, DeliveryOutbox, NewDelivery } from '../../src/core/outbox.ts';
import type { DeliveryRecord } from '../../src/webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import { defaultRetryPolicy, type RetryPolicy, type WebhookEndpoint } from '../../src/webhooks/endpoints.ts';
import { webhookEventTypes } from '../../src/webhooks/events.ts';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';

export interface OutboxFixture {
  /** An outbox on this case's storage. */
  open(): Promise<DeliveryOutbox>;
  /** Another handle on the same storage, as a second process has it (memory: the same outbox). */
  openPeer(): Promise<DeliveryOutbox>;
  close(): Promise<void>;
}

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;

function delivery(eventId: string, endpointKey = 'name:ops', createdAt = T0): NewDelivery {
  const payload = { id: eventId, type: 'needs_reauth', connection: { name: 'me', provider: 'fitbit' } };
  return { eventId, endpointKey, payload: JSON.stringify(payload), createdAt };
}

const claimAt = (
  outbox: DeliveryOutbox,
  now: number,
  owner = 'worker-a',
  limit = 10,
  leaseMs = 60_000,
  endpointKeys = ['name:ops', 'name:chat'],
) => outbox.claimDue({ owner, now, endpointKeys, limit, leaseMs });

interface Answer {
  status: number;
  retryAfter?: string;
}

/** A loopback receiver answering each POST with the next of `answers` (then 204); counts what it got. */
async function scriptedReceiver(answers: Answer[]) {
  const queue = [...answers];
  const received: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const answer = queue.shift() ?? { status: 204 };
      if (answer.status < 300) received.push(body);
      response.writeHead(answer.status, answer.retryAfter ? { 'retry-after': answer.retryAfter } : {}).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function defineOutboxContract(name: string, makeFixture: () => Promise<OutboxFixture>): void {
  describe(`webhook outbox contract: ${name}`, () => {
    let fixture: OutboxFixture;
    const cleanups: Array<() => Promise<void>> = [];
    beforeEach(async () => {
      fixture = await makeFixture();
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      await fixture?.close();
    });

    it('enqueues one row per (event id, endpoint key), also for a peer and after the row was delivered', async () => {
      const outbox = await fixture.open();
      const peer = await fixture.openPeer();
      expect(await outbox.enqueue([delivery('evt_1'), delivery('evt_1', 'name:chat')])).toBe(2);
      expect(await peer.enqueue([delivery('evt_1'), delivery('evt_2')])).toBe(1);
      expect(await outbox.pendingCount()).toBe(3);
      const claims = await claimAt(outbox, T0);
      expect(claims.map((c) => `${c.eventId}/${c.endpointKey}`).sort()).toEqual([
        'evt_1/name:chat',
        'evt_1/name:ops',
        'evt_2/name:ops',
      ]);
      for (const claim of claims) {
        expect(await outbox.settle(claim, { state: 'delivered', at: T0 })).toBe(true);
      }
      expect(await peer.enqueue([delivery('evt_1', 'name:ops', T0 + HOUR)])).toBe(0);
      expect(await outbox.pendingCount()).toBe(0);
      expect(await claimAt(outbox, T0 + 2 * HOUR)).toEqual([]);
    });

    it('arms a failed row again when its event is raised again, with its attempts counted anew', async () => {
      const outbox = await fixture.open();
      const peer = await fixture.openPeer();
      await outbox.enqueue([delivery('evt_gave_up'), delivery('evt_done')]);
      for (const claim of await claimAt(outbox, T0)) {
        await outbox.reschedule(claim, { nextAttemptAt: T0 + 1_000, attempted: true, error: 'HTTP 503' });
      }
      for (const claim of await claimAt(outbox, T0 + 1_000)) {
        const state = claim.eventId === 'evt_gave_up' ? 'failed' : 'delivered';
        expect(await outbox.settle(claim, { state, at: T0 + 1_000, error: 'HTTP 400' })).toBe(true);
      }
      expect(await peer.enqueue([delivery('evt_gave_up', 'name:ops', T0 + HOUR)])).toBe(1);
      expect(await peer.enqueue([delivery('evt_done', 'name:ops', T0 + HOUR)])).toBe(0);
      expect(await outbox.enqueue([delivery('evt_gave_up', 'name:ops', T0 + HOUR)])).toBe(0);
      const [again, ...others] = await claimAt(outbox, T0 + HOUR);
      expect(others).toEqual([]);
      expect(again).toMatchObject({ eventId: 'evt_gave_up', attempts: 0, createdAt: T0 + HOUR });
    });

    it('claims due rows only, most overdue first, up to the limit, each once while its lease lasts', async () => {
      const outbox = await fixture.open();
      const peer = await fixture.openPeer();
      await outbox.enqueue([
        delivery('evt_late', 'name:ops', T0 + 5_000),
        delivery('evt_b', 'name:ops', T0 - 1_000),
        delivery('evt_a', 'name:ops', T0 - 2_000),
      ]);
      expect(await outbox.nextDueAt({ now: T0, endpointKeys: ['name:ops'] })).toBe(T0 - 2_000);
      expect(await outbox.nextDueAt({ now: T0, endpointKeys: ['name:chat'] })).toBeUndefined();
      const [first, ...rest] = await claimAt(outbox, T0, 'worker-a', 1);
      expect(rest).toEqual([]);
      expect(first).toMatchObject({
        eventId: 'evt_a',
        attempts: 0,
        owner: 'worker-a',
      });
      expect(JSON.parse(first?.payload ?? '')).toMatchObject({ id: 'evt_a', connection: { name: 'me' } });
      expect((await claimAt(peer, T0, 'worker-b')).map((c) => c.eventId)).toEqual(['evt_b']);
      expect(await claimAt(outbox, T0 + 1_000)).toEqual([]);
      expect(await outbox.pendingCount()).toBe(3);
    });

    it('claims only rows of its own endpoint keys: the others wait for a claimant that has them', async () => {
      const outbox = await fixture.open();
      const peer = await fixture.openPeer();
      await outbox.enqueue([
        delivery('evt_1'),
        delivery('evt_1', 'name:added'),
        delivery('evt_2', 'name:added'),
      ]);
      const old = await claimAt(outbox, T0, 'worker-old', 10, 60_000, ['name:ops']);
      expect(old.map((c) => `${c.eventId}/${c.endpointKey}`)).toEqual(['evt_1/name:ops']);
      expect(await claimAt(outbox, T0 + HOUR, 'worker-none', 10, 60_000, [])).toEqual([]);
      const added = await claimAt(peer, T0, 'worker-new', 10, 60_000, ['name:ops', 'name:added']);
      expect(added.map((c) => `${c.eventId}/${c.endpointKey}`).sort()).toEqual([
        'evt_1/name:added',
        'evt_2/name:added',
      ]);
    });

    it('expires pending rows of events older than the cutoff as failed; they are pruned, and armed again when raised', async () => {
      const outbox = await fixture.open();
      await outbox.enqueue([
        delivery('evt_orphan', 'name:removed', T0 - 3 * HOUR),
        delivery('evt_leased', 'name:ops', T0 - 3 * HOUR),
        delivery('evt_recent', 'name:removed', T0 - HOUR),
      ]);
      await claimAt(outbox, T0, 'worker-a', 10, 60_000, ['name:ops']);
      const expired = await outbox.expire({ createdBefore: T0 - 2 * HOUR, at: T0, error: 'no endpoint' });
      expect(expired).toBe(2);
      expect(await outbox.pendingCount()).toBe(1);
      expect(await outbox.enqueue([delivery('evt_orphan', 'name:removed', T0)])).toBe(1);
      expect(await outbox.prune(T0 + 1)).toBe(1);
      expect(await outbox.pendingCount()).toBe(2);
    });

    it('never hands one row to two claimants claiming at the same moment', async () => {
      const handles = [await fixture.open(), await fixture.openPeer(), await fixture.openPeer()];
      await handles[0]?.enqueue(Array.from({ length: 60 }, (_, i) => delivery(`evt_${i}`)));
      const claims = await Promise.all(
        Array.from({ length: 15 }, (_, i) => claimAt(handles[i % 3] as DeliveryOutbox, T0, `worker-${i}`, 5)),
      );
      const ids = claims.flat().map((claim) => claim.eventId);
      expect(ids).toHaveLength(60);
      expect(new Set(ids).size).toBe(60);
    });

    it('fences claims: once a lease has run out and a peer claimed the row, the first claimant cannot settle it', async () => {
      const outbox = await fixture.open();
      const peer = await fixture.openPeer();
      await outbox.enqueue([delivery('evt_1')]);
      // The lease runs out on the caller's clock and, where leases are on the database's, in real time too.
      const [lost] = await claimAt(outbox, T0, 'worker-a', 10, 300);
      expect(await claimAt(peer, T0 + 299, 'worker-b')).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const [taken] = await claimAt(peer, T0 + 300, 'worker-b');
      expect(taken?.fence).toBeGreaterThan(lost?.fence ?? Infinity);
      if (!lost || !taken) throw new Error('no claim');
      expect(await outbox.settle(lost, { state: 'delivered', at: T0 + 1_001 })).toBe(false);
      expect(await outbox.reschedule(lost, { nextAttemptAt: T0, attempted: true })).toBe(false);
      expect(await outbox.drop(lost)).toBe(false);
      expect(await outbox.pendingCount()).toBe(1);
      expect(await peer.settle(taken, { state: 'failed', at: T0 + 1_002, error: 'HTTP 400' })).toBe(true);
      expect(await peer.settle(taken, { state: 'delivered', at: T0 + 1_003 })).toBe(false);
      expect(await outbox.pendingCount()).toBe(0);
    });

    it('reschedules with the attempt counted (or not), due again at the given time', async () => {
      const outbox = await fixture.open();
      await outbox.enqueue([delivery('evt_1')]);
      const [first] = await claimAt(outbox, T0);
      expect(
        await outbox.reschedule(first!, { nextAttemptAt: T0 + 4_000, attempted: true, error: 'HTTP 503' }),
      ).toBe(true);
      expect(await outbox.nextDueAt({ now: T0, endpointKeys: ['name:ops'] })).toBe(T0 + 4_000);
      expect(await claimAt(outbox, T0 + 3_999)).toEqual([]);
      const [second] = await claimAt(outbox, T0 + 4_000);
      expect(second?.attempts).toBe(1);
      await outbox.reschedule(second!, { nextAttemptAt: T0 + 5_000, attempted: false });
      const [third] = await claimAt(outbox, T0 + 5_000);
      expect(third).toMatchObject({ attempts: 1, createdAt: T0 });
    });

    it('prunes settled rows older than the cutoff, never pending ones; a pruned key can be queued again', async () => {
      const outbox = await fixture.open();
      await outbox.enqueue([delivery('evt_old'), delivery('evt_new'), delivery('evt_pending')]);
      const claims = await claimAt(outbox, T0);
      const by = (id: string) => claims.find((c) => c.eventId === id)!;
      await outbox.settle(by('evt_old'), { state: 'delivered', at: T0 });
      await outbox.settle(by('evt_new'), { state: 'delivered', at: T0 + 10 * HOUR });
      await outbox.reschedule(by('evt_pending'), { nextAttemptAt: T0, attempted: true });
      expect(await outbox.prune(T0 + HOUR)).toBe(1);
      expect(await outbox.enqueue([delivery('evt_old'), delivery('evt_new')])).toBe(1);
      expect(await outbox.pendingCount()).toBe(2);
      expect(await outbox.prune(T0 + 100 * HOUR)).toBe(1);
      expect(await outbox.pendingCount()).toBe(2);
    });

    describe('the dispatcher on it', () => {
      const endpoint = (url: string): WebhookEndpoint => ({
        key: 'name:ops',
        label: 'ops',
        url,
        secret: generateWebhookSecret(),
        events: new Set(webhookEventTypes),
      });
      /** A dispatcher on the case's outbox with a clock the test moves; pollMs makes it read that clock often. */
      const dispatcherOn = async (
        outbox: DeliveryOutbox,
        url: string,
        clock: { now: number },
        retry: Partial<RetryPolicy>,
        logger: Logger = silentLogger,
      ) => {
        const records: DeliveryRecord[] = [];
        const dispatcher = new WebhookDispatcher({
          endpoints: [endpoint(url)],
          retry: { ...defaultRetryPolicy, timeoutMs: 2_000, ...retry },
          log: { append: (record) => records.push(record) },
          logger,
          outbox,
          pollMs: 10,
          now: () => clock.now,
        });
        cleanups.push(() => dispatcher.drain(0));
        return { dispatcher, records };
      };
      const event = { type: 'needs_reauth' as const, connection: { name: 'me', provider: 'fitbit' } };

      it('backs off exponentially, honours Retry-After, and gives up once the window after the event is over', async () => {
        const receiver = await scriptedReceiver([
          { status: 503 },
          { status: 503 },
          { status: 429, retryAfter: String(5 * 3600) },
          ...Array.from({ length: 20 }, () => ({ status: 502 })),
        ]);
        cleanups.push(receiver.close);
        const clock = { now: T0 };
        const { dispatcher, records } = await dispatcherOn(await fixture.open(), receiver.url, clock, {
          retryForMs: 12 * HOUR,
          baseMs: HOUR,
          maxMs: 2 * HOUR,
        });
        dispatcher.send(event);
        /** Moves the clock to when the last record said the next attempt is due, and waits for that attempt. */
        const nextAttempt = async () => {
          const last = records.at(-1) as DeliveryRecord;
          clock.now += last.nextAttemptInMs ?? 0;
          await expect.poll(() => records.length, { timeout: 5_000 }).toBe(last.attempt + 1);
          return records.at(-1) as DeliveryRecord;
        };
        await expect.poll(() => records.length, { timeout: 5_000 }).toBe(1);
        // Full jitter: between half and all of base · 2^(attempt-1), capped at maxMs.
        expect(records[0]).toMatchObject({ attempt: 1, outcome: 'retrying', status: 503 });
        expect(records[0]?.nextAttemptInMs).toBeGreaterThanOrEqual(HOUR / 2);
        expect(records[0]?.nextAttemptInMs).toBeLessThanOrEqual(HOUR);
        const second = await nextAttempt();
        expect(second.nextAttemptInMs).toBeGreaterThanOrEqual(HOUR);
        expect(second.nextAttemptInMs).toBeLessThanOrEqual(2 * HOUR);
        const third = await nextAttempt();
        expect(third).toMatchObject({ status: 429, nextAttemptInMs: 5 * HOUR });
        let last = third;
        while (last.outcome === 'retrying') last = await nextAttempt();
        expect(last).toMatchObject({ outcome: 'failed', status: 502 });
        // The last retry is due exactly at the end of the window, and the attempt then is the last.
        expect(clock.now).toBe(T0 + 12 * HOUR);
        expect(records.filter((r) => r.outcome === 'failed')).toHaveLength(1);
        expect(new Set(records.map((r) => r.eventId)).size).toBe(1);
        expect(receiver.received).toEqual([]);
        clock.now += 24 * HOUR;
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(records.at(-1)).toBe(last);
      });

      it('sends the same event id once; a shutdown leaves it pending when durable (the next start delivers it), else abandons it', async () => {
        const receiver = await scriptedReceiver([{ status: 503 }]);
        cleanups.push(receiver.close);
        const clock = { now: T0 };
        const outbox = await fixture.open();
        const first = await dispatcherOn(outbox, receiver.url, clock, { baseMs: HOUR, maxMs: HOUR });
        const id = first.dispatcher.send({ ...event, id: 'evt_expiring_me_1' });
        expect(first.dispatcher.send({ ...event, id })).toBe(id);
        await expect.poll(() => first.records.length, { timeout: 5_000 }).toBe(1);
        expect(first.records[0]).toMatchObject({ outcome: 'retrying', eventId: id });
        await first.dispatcher.drain(0);
        if (!outbox.durable) {
          expect(first.records.map((r) => r.outcome)).toEqual(['retrying', 'abandoned']);
          expect(await outbox.pendingCount()).toBe(0);
          return;
        }
        expect(first.records).toHaveLength(1);
        expect(await outbox.pendingCount()).toBe(1);

        const restarted = await dispatcherOn(await fixture.openPeer(), receiver.url, clock, {});
        clock.now += HOUR;
        await expect.poll(() => receiver.received.length, { timeout: 5_000 }).toBe(1);
        expect(JSON.parse(receiver.received[0] ?? '')).toMatchObject({ id, type: 'needs_reauth' });
        await expect
          .poll(() => restarted.records.map((r) => [r.attempt, r.outcome]))
          .toEqual([[2, 'delivered']]);
        restarted.dispatcher.send({ ...event, id });
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(receiver.received).toHaveLength(1);
      });

      it('does not wait for rows of endpoints it does not have: one due for a peer leaves it idle', async () => {
        const outbox = await fixture.open();
        await outbox.enqueue([delivery('evt_peers', 'name:added-endpoint')]);
        let claims = 0;
        const counting = new Proxy(outbox, {
          get: (target, key, receiver) =>
            key === 'claimDue'
              ? (request: ClaimDeliveries) => {
                  claims++;
                  return target.claimDue(request);
                }
              : Reflect.get(target, key, receiver),
        });
        const dispatcher = new WebhookDispatcher({
          endpoints: [endpoint('http://127.0.0.1:9/hook')],
          retry: defaultRetryPolicy,
          log: { append: () => undefined },
          logger: silentLogger,
          outbox: counting,
          now: () => T0,
        });
        cleanups.push(() => dispatcher.drain(0));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(claims).toBe(1);
      });

      it('leaves rows of endpoints it does not have, expires them after the retry window, drops unreadable payloads and prunes settled rows after 30 days', async () => {
        const receiver = await scriptedReceiver([]);
        cleanups.push(receiver.close);
        const outbox = await fixture.open();
        const day = 24 * HOUR;
        await outbox.enqueue([
          delivery('evt_peers', 'name:added-endpoint'),
          delivery('evt_orphan', 'name:retired-endpoint', T0 - 3 * day),
          delivery('evt_old', 'name:ops', T0 - 40 * day),
          { eventId: 'evt_damaged', endpointKey: 'name:ops', payload: '{"id":', createdAt: T0 },
        ]);
        const [old] = await claimAt(outbox, T0 - 40 * day);
        await outbox.settle(old!, { state: 'delivered', at: T0 - 31 * day });
        const warnings: Array<{ fields: object; message: string }> = [];
        const logger = {
          ...silentLogger,
          warn: (fields: object, message: string) => warnings.push({ fields, message }),
        };
        const clock = { now: T0 };
        // The default retry window is a day: evt_orphan's event is past it and the day of margin.
        await dispatcherOn(outbox, receiver.url, clock, {}, logger);
        await expect.poll(() => warnings.length, { timeout: 5_000 }).toBe(2);
        expect(warnings).toEqual(
          expect.arrayContaining([
            {
              fields: { count: 1 },
              message:
                'webhooks expired, not delivered within the retry window: no running worker has this endpoint configured',
            },
            {
              fields: { endpoint: 'ops', eventId: 'evt_damaged' },
              message: 'webhook dropped: its stored payload is not readable',
            },
          ]),
        );
        // A peer's endpoint's row waits for the peer.
        expect(await outbox.pendingCount()).toBe(1);
        expect(receiver.received).toEqual([]);
        expect(
          await outbox.enqueue([
            delivery('evt_peers', 'name:added-endpoint', T0 + day),
            delivery('evt_orphan', 'name:retired-endpoint', T0 + day),
            delivery('evt_old', 'name:ops', T0 + day),
          ]),
        ).toBe(2);
      });
    });
  });
}
