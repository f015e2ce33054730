import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { createHarness, expectSuccess, freePort, type Harness, type OnFinished } from '../cli/harness.ts';
import { startReceiver } from './daemon.ts';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';

const SECRET = generateWebhookSecret();

interface OutboxRow {
  event_id: string;
  endpoint_key: string;
  state: string;
  attempts: number;
}

/** The outbox rows as another program reads the store file (the daemon may be writing it). */
function outboxRows(home: string): OutboxRow[] {
  const db = new DatabaseSync(join(home, 'tokenkeeper.db'), { readOnly: true, timeout: 5_000 });
  try {
    return db
      .prepare('SELECT event_id, endpoint_key, state, attempts FROM webhook_outbox')
      .all() as unknown as OutboxRow[];
  } finally {
    db.close();
  }
}

function deliveryLog(home: string): Array<{ attempt: number; outcome: string; error?: string }> {
  return readFileSync(join(home, 'webhook-deliveries.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { attempt: number; outcome: string; error?: string });
}

async function eventually<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A harness whose connection "me" will need re-authorisation on its first refresh (its refresh token was
 * superseded), with one webhook endpoint on a port nothing listens on yet; retries are quick.
 */
async function reauthWithReceiverDown(onFinished: OnFinished): Promise<{ h: Harness; port: number }> {
  const port = await freePort();
  const h = await createHarness(onFinished, {
    config: {
      webhooks: {
        endpoints: [
          { url: `http://127.0.0.1:${port}/hooks/tokenkeeper`, secret: 'env:WEBHOOK_SECRET', name: 'ops' },
        ],
        retryBaseSeconds: 0.2,
        retryMaxSeconds: 0.5,
        timeoutSeconds: 2,
      },
    },
  });
  h.env.WEBHOOK_SECRET = SECRET;
  const stale = h.seed();
  h.seed(); // a newer grant for the same account: the imported refresh token is dead (invalid_grant)
  expectSuccess(
    await h.cli(['add', 'me', '--provider', 'fitbit', '--refresh-token', '-', '--no-verify'], {
      stdin: `${stale.refreshToken}\n`,
    }),
  );
  return { h, port };
}

/** The one outbox row, once the daemon has tried it `attempts` times. */
async function triedRow(h: Harness, attempts: number): Promise<OutboxRow> {
  return eventually(
    () => outboxRows(h.home).find((row) => row.attempts >= attempts),
    20_000,
    `the needs_reauth delivery tried ${attempts} time(s)`,
  );
}

/** Opens the receiver, restarts the daemon, and expects `pending` to arrive exactly once. */
async function restartAndExpectOneDelivery(
  h: Harness,
  port: number,
  pending: OutboxRow,
  onFinished: OnFinished,
) {
  const receiver = await startReceiver([], port);
  onFinished(() => receiver.close());
  const daemon = h.start(['run', '--no-server']);
  const hook = await receiver.waitFor((received) => received.json.type === 'needs_reauth', 40_000);
  expect(hook.json).toMatchObject({ id: pending.event_id, connection: { name: 'me', provider: 'fitbit' } });
  await eventually(
    () => (outboxRows(h.home)[0]?.state === 'delivered' ? true : undefined),
    5_000,
    'the row settled as delivered',
  );
  // Well past the longest backoff: no second delivery.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(receiver.attempts).toHaveLength(1);
  expect(outboxRows(h.home)).toEqual([{ ...pending, state: 'delivered', attempts: pending.attempts + 1 }]);
  expect(deliveryLog(h.home).at(-1)).toMatchObject({ outcome: 'delivered', attempt: pending.attempts + 1 });
  daemon.child.kill('SIGTERM');
  expectSuccess(await daemon.done);
}

/** The outbox's only row. */
function onlyRow(h: Harness): OutboxRow {
  const [row, ...others] = outboxRows(h.home);
  if (!row) throw new Error('the outbox is empty');
  expect(others).toEqual([]);
  return row;
}

describe.concurrent('durable webhook delivery', () => {
  it('a delivery pending when the daemon is SIGKILLed while the receiver is down arrives once after a restart', async ({
    onTestFinished,
  }) => {
    const { h, port } = await reauthWithReceiverDown(onTestFinished);
    const first = h.start(['run', '--no-server']);
    await triedRow(h, 2);
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
    const pending = onlyRow(h);
    expect(pending).toMatchObject({ endpoint_key: 'name:ops', state: 'pending' });
    const tried = deliveryLog(h.home);
    expect(tried.length).toBeGreaterThanOrEqual(2);
    expect(tried.every((r) => r.outcome === 'retrying' && r.error === 'network error ECONNREFUSED')).toBe(
      true,
    );
    await restartAndExpectOneDelivery(h, port, pending, onTestFinished);
  }, 90_000);

  it('SIGTERM leaves a delivery waiting for its retry pending, not failed, and the next start delivers it', async ({
    onTestFinished,
  }) => {
    const { h, port } = await reauthWithReceiverDown(onTestFinished);
    const first = h.start(['run', '--no-server']);
    await triedRow(h, 1);
    first.child.kill('SIGTERM');
    expectSuccess(await first.done);
    const pending = onlyRow(h);
    expect(pending.state).toBe('pending');
    expect(deliveryLog(h.home).map((r) => r.outcome)).not.toContain('failed');
    expect(deliveryLog(h.home).map((r) => r.outcome)).not.toContain('abandoned');
    await restartAndExpectOneDelivery(h, port, pending, onTestFinished);
  }, 90_000);
});
