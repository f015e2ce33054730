/**
 * `connect --replace` runs in a process without a dispatcher: it queues its `replaced` webhook in the store's
 * outbox, and the daemon (which polls the outbox) delivers it. So do other commands (`refresh`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';
import { startDaemon, startReceiver } from '../server/daemon.ts';
import { approve } from './consent.ts';
import { GOOGLE_CONSENT_URL, twoProviders } from './google-health.ts';
import { createHarness, expectSuccess, freePort, type Harness } from './harness.ts';

it('the replaced webhook of `connect --replace` reaches the endpoint through the running daemon', async ({
  onTestFinished,
}) => {
  const receiver = await startReceiver();
  onTestFinished(() => receiver.close());
  const { h } = await twoProviders(onTestFinished, {
    webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET', name: 'ops' }] },
  });
  h.env.WEBHOOK_SECRET = generateWebhookSecret();
  h.secrets.add(h.env.WEBHOOK_SECRET);
  await h.addConnection('fitbit-me');
  const daemon = await startDaemon(h);
  onTestFinished(() => daemon.stop());

  const port = await freePort();
  const cli = h.start([
    'connect',
    'google-health',
    '--replace',
    'fitbit-me',
    '--no-browser',
    '--port',
    String(port),
    '--timeout',
    '15',
  ]);
  const [, consentUrl] = await cli.waitFor(GOOGLE_CONSENT_URL);
  expect((await fetch(await approve(consentUrl as string))).status).toBe(200);
  expectSuccess(await cli.done);

  // The daemon looks at the outbox every 10 s.
  const hook = await receiver.waitFor((received) => received.json.type === 'replaced', 25_000);
  expect(hook.json).toMatchObject({
    connection: { name: 'fitbit-me', provider: 'google-health' },
    replaced: { previousProvider: 'fitbit', revoked: true },
  });
  expect(receiver.attempts.filter((attempt) => attempt.json.type === 'replaced')).toHaveLength(1);
  // The daemon delivered it (its delivery log has the attempt), not the command.
  const deliveryLog = join(h.home, 'webhook-deliveries.jsonl');
  await expect
    .poll(() => (existsSync(deliveryLog) ? readFileSync(deliveryLog, 'utf8') : ''))
    .toContain(`"eventId":"${String(hook.json.id)}"`);
}, 60_000);

it('`refresh` only queues what it raises (the CLI delivers nothing); without the webhook secret it says so, with the same outcome', async ({
  onTestFinished,
}) => {
  const receiver = await startReceiver();
  onTestFinished(() => receiver.close());
  const h = await createHarness(onTestFinished, {
    config: { webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET', name: 'ops' }] } },
  });
  const stale = h.seed();
  h.seed(); // a newer grant for the same account: the imported refresh token is dead (invalid_grant)
  for (const name of ['no-secret', 'queued']) {
    expectSuccess(
      await h.cli(['add', name, '--provider', 'fitbit', '--refresh-token', '-', '--no-verify'], {
        stdin: `${stale.refreshToken}\n`,
      }),
    );
  }
  const status = await h.cli(['status']);
  expect(status.stderr).not.toMatch(/not queued/);

  const unreadable = await h.cli(['refresh', 'no-secret']);
  expect(unreadable.stderr).toMatch(
    /webhooks of this command not queued: the webhook settings cannot be read here/,
  );
  expect(outboxRows(h)).toEqual([]);

  h.env.WEBHOOK_SECRET = generateWebhookSecret();
  h.secrets.add(h.env.WEBHOOK_SECRET);
  const queued = await h.cli(['refresh', 'queued']);
  expect(queued.code).toBe(unreadable.code);
  expect(queued.stderr).not.toMatch(/not queued/);
  expect(outboxRows(h)).toEqual([{ type: 'needs_reauth', state: 'pending', attempts: 0 }]);
  expect(receiver.attempts).toEqual([]);
});

/** The outbox rows as another program reads the store file. */
function outboxRows(h: Harness): Array<{ type: string; state: string; attempts: number }> {
  const db = new DatabaseSync(join(h.home, 'tokenkeeper.db'), { readOnly: true, timeout: 5_000 });
  try {
    return db
      .prepare(`SELECT json_extract(payload, '$.type') AS type, state, attempts FROM webhook_outbox`)
      .all() as unknown as Array<{ type: string; state: string; attempts: number }>;
  } finally {
    db.close();
  }
}
