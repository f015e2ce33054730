import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.ts';
import type { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';
import type { DeliveryRecord } from '../../src/webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import { defaultRetryPolicy } from '../../src/webhooks/endpoints.ts';
import { webhookEventTypes } from '../../src/webhooks/events.ts';
import { startReceiver } from '../server/daemon.ts';
import { defineOutboxContract } from '../stores/outbox-contract.ts';
import { usePostgres } from './setup.ts';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';

const pg = usePostgres();

defineOutboxContract('PostgreSQL', async () => {
  const url = pg.storeUrl();
  // Each handle is a store of its own on the schema, as another worker of the fleet opens it.
  const open = async () => (await pg.openStore(url)).openOutbox();
  return { open, openPeer: open, close: async () => undefined };
});

describe('the webhook outbox of a PostgreSQL fleet', () => {
  it('two workers raising the same event id deliver it once', async ({ onTestFinished }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const url = pg.storeUrl();
    const records: DeliveryRecord[] = [];
    const worker = (store: PostgresStore) => {
      const dispatcher = new WebhookDispatcher({
        endpoints: [
          {
            key: 'name:ops',
            label: 'ops',
            url: receiver.url,
            secret: generateWebhookSecret(),
            events: new Set(webhookEventTypes),
          },
        ],
        retry: defaultRetryPolicy,
        log: { append: (record) => records.push(record) },
        logger: silentLogger,
        outbox: store.openOutbox(),
        pollMs: 20,
      });
      onTestFinished(() => dispatcher.drain(1_000));
      return dispatcher;
    };
    const workers = [worker(await pg.openStore(url)), worker(await pg.openStore(url))];
    for (let round = 0; round < 5; round++) {
      const body = {
        id: `evt_expiring_fleet_${round}`,
        type: 'expiring_soon' as const,
        connection: { name: `conn-${round}`, provider: 'google' },
        expiring: { what: 'refresh_token' as const, at: '2026-12-10T00:00:00.000Z' },
      };
      workers.forEach((dispatcher) => dispatcher.send(body));
    }
    await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(5);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.attempts).toHaveLength(5);
    expect(new Set(receiver.received.map((hook) => hook.json.id)).size).toBe(5);
    expect(records.map((r) => r.outcome)).toEqual(Array(5).fill('delivered'));
    const schema = new URL(url).searchParams.get('schema') as string;
    const rows = await pg.sql<{ state: string; attempts: number }>(
      `SELECT state, attempts FROM ${schema}.webhook_outbox`,
    );
    expect(rows).toEqual(Array(5).fill({ state: 'delivered', attempts: 1 }));
  });

  it("leases on the database's clock: a worker whose clock runs a minute ahead does not take a row under way", async ({
    onTestFinished,
  }) => {
    const ids: string[] = [];
    // A slow receiver: the first worker's attempt is still under way when the skewed one polls.
    const server = createServer((request, response) => {
      ids.push(String(request.headers['webhook-id']));
      request.resume();
      setTimeout(() => response.writeHead(204).end(), 1_500);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const storeUrl = pg.storeUrl();
    const secret = generateWebhookSecret();
    const records: DeliveryRecord[] = [];
    const worker = async (skewMs: number) => {
      const dispatcher = new WebhookDispatcher({
        endpoints: [{ key: 'name:ops', label: 'ops', url, secret, events: new Set(webhookEventTypes) }],
        retry: { ...defaultRetryPolicy, timeoutMs: 10_000 },
        log: { append: (record) => records.push(record) },
        logger: silentLogger,
        outbox: (await pg.openStore(storeUrl)).openOutbox(),
        pollMs: 20,
        now: () => Date.now() + skewMs,
      });
      onTestFinished(() => dispatcher.drain(3_000));
      return dispatcher;
    };
    const punctual = await worker(0);
    await worker(60_000);
    punctual.send({
      id: 'evt_skew',
      type: 'needs_reauth',
      connection: { name: 'me', provider: 'fitbit' },
      status: 'needs_reauth',
    });
    await expect.poll(() => records.length, { timeout: 10_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ids).toEqual(['evt_skew']);
    expect(records.map((r) => r.outcome)).toEqual(['delivered']);
  });

  it('in a rolling deploy, a worker without the new endpoint leaves its rows to the workers that have it', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const storeUrl = pg.storeUrl();
    const ops = {
      key: 'name:ops',
      label: 'ops',
      url: receiver.url,
      secret: generateWebhookSecret(),
      events: new Set(webhookEventTypes),
    };
    const added = { ...ops, key: 'name:added', label: 'added', url: `${receiver.url}?added` };
    const worker = async (endpoints: (typeof ops)[]) => {
      const dispatcher = new WebhookDispatcher({
        endpoints,
        retry: defaultRetryPolicy,
        log: { append: () => undefined },
        logger: silentLogger,
        outbox: (await pg.openStore(storeUrl)).openOutbox(),
        pollMs: 20,
      });
      onTestFinished(() => dispatcher.drain(1_000));
      return dispatcher;
    };
    // The old worker polls all along; the new one only queues (its endpoints are not started yet) …
    await worker([ops]);
    const queued = (await pg.openStore(storeUrl)).openOutbox();
    const payload = {
      id: 'evt_rolling',
      type: 'needs_reauth',
      createdAt: new Date().toISOString(),
      connection: { name: 'me', provider: 'fitbit' },
      status: 'needs_reauth',
    };
    await queued.enqueue([
      {
        eventId: 'evt_rolling',
        endpointKey: 'name:added',
        payload: JSON.stringify(payload),
        createdAt: Date.now(),
      },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.attempts).toHaveLength(0);
    expect(await queued.pendingCount()).toBe(1);
    // … and a worker with the new endpoint delivers it.
    await worker([ops, added]);
    await expect
      .poll(() => receiver.received.map((hook) => hook.json.id), { timeout: 10_000 })
      .toEqual(['evt_rolling']);
  });
});
