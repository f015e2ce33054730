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
});
