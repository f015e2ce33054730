/**
 * `connect --replace` runs in a process without a dispatcher: it queues its `replaced` webhook in the store's
 * outbox, and the daemon (which polls the outbox) delivers it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';
import { startDaemon, startReceiver } from '../server/daemon.ts';
import { approve } from './consent.ts';
import { GOOGLE_CONSENT_URL, twoProviders } from './google-health.ts';
import { expectSuccess, freePort } from './harness.ts';

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
