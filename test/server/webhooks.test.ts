import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.ts';
import { DeliveryLog } from '../../src/webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import type { WebhookEndpoint } from '../../src/webhooks/endpoints.ts';
import { webhookEventTypes } from '../../src/webhooks/events.ts';
import { signatureHeader, verifyWebhookSignature } from '../../src/webhooks/signature.ts';
import { createHarness, expectSuccess, type OnFinished } from '../cli/harness.ts';
import { startReceiver, type ReceivedWebhook } from './daemon.ts';
import { openDaemonKeeper } from './in-process.ts';

const SECRET = 'whsec_test_0123456789abcdef';

function verify(hook: ReceivedWebhook, secret = SECRET) {
  return verifyWebhookSignature(secret, hook.headers['tokenkeeper-signature'] as string, hook.body);
}

async function dispatcherTo(
  onFinished: OnFinished,
  script: number[],
  retry: Partial<{ maxAttempts: number; baseMs: number; maxMs: number }> = {},
) {
  const receiver = await startReceiver(script);
  onFinished(() => receiver.close());
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-webhooks-'));
  onFinished(() => rmSync(dir, { recursive: true, force: true }));
  const log = new DeliveryLog(join(dir, 'webhook-deliveries.jsonl'));
  const endpoint: WebhookEndpoint = {
    label: 'ops',
    url: receiver.url,
    secret: SECRET,
    events: new Set(webhookEventTypes),
  };
  const dispatcher = new WebhookDispatcher({
    endpoints: [endpoint],
    retry: { maxAttempts: 4, retryForMs: 60_000, baseMs: 20, maxMs: 200, timeoutMs: 2_000, ...retry },
    log,
    logger: silentLogger,
  });
  return { receiver, log, dispatcher };
}

describe('webhook signatures', () => {
  it('verify the exact body with the right secret within the time window only', () => {
    const body = JSON.stringify({ type: 'needs_reauth', connection: { name: 'me' } });
    const now = Math.floor(Date.now() / 1000);
    const header = signatureHeader(SECRET, body, now);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(SECRET, header, body)).toEqual({ ok: true, timestamp: now });
    expect(verifyWebhookSignature(SECRET, header, body.replace('me', 'you')).ok).toBe(false);
    expect(verifyWebhookSignature('another-secret', header, body).ok).toBe(false);
    expect(verifyWebhookSignature(SECRET, header.replace(/t=\d+/, `t=${now - 1}`), body).ok).toBe(false);
    const old = signatureHeader(SECRET, body, now - 3600);
    expect(verifyWebhookSignature(SECRET, old, body)).toEqual({
      ok: false,
      reason: 'timestamp outside the tolerance window',
    });
    expect(verifyWebhookSignature(SECRET, undefined, body).ok).toBe(false);
  });
});

describe.concurrent('webhook delivery', () => {
  it('retries 5xx with backoff until delivered, and logs every attempt', async ({ onTestFinished }) => {
    const { receiver, log, dispatcher } = await dispatcherTo(onTestFinished, [503, 500]);
    dispatcher.handle({
      type: 'status_changed',
      name: 'me',
      provider: 'fitbit',
      from: 'active',
      to: 'needs_reauth',
      error: 'invalid_grant',
    });
    await receiver.waitFor((hook) => hook.json.type === 'needs_reauth');

    expect(receiver.attempts).toHaveLength(3);
    const ids = new Set(receiver.attempts.map((hook) => hook.headers['tokenkeeper-delivery']));
    expect(ids.size).toBe(1); // the same delivery each time, so receivers can de-duplicate
    for (const attempt of receiver.attempts) {
      expect(verify(attempt).ok).toBe(true);
      expect(attempt.headers['tokenkeeper-event']).toBe('needs_reauth');
      expect(attempt.json).toMatchObject({
        type: 'needs_reauth',
        connection: { name: 'me', provider: 'fitbit' },
        status: 'needs_reauth',
        previousStatus: 'active',
      });
    }
    await dispatcher.drain(1_000);
    const records = log.recent(10);
    expect(records.map((r) => [r.attempt, r.outcome, r.status])).toEqual([
      [1, 'retrying', 503],
      [2, 'retrying', 500],
      [3, 'delivered', 204],
    ]);
    expect(records[0]?.nextAttemptInMs).toBeGreaterThanOrEqual(10);
    expect(records.every((r) => r.endpoint === 'ops' && r.connection === 'me')).toBe(true);
    expect(statSync(log.path).mode & 0o777).toBe(0o600);
  });

  it('gives up at once on a 4xx, and after maxAttempts on repeated failures', async ({ onTestFinished }) => {
    const refused = await dispatcherTo(onTestFinished, [400]);
    refused.dispatcher.handle({
      type: 'refresh_failed',
      name: 'me',
      provider: 'fitbit',
      error: 'HTTP 503',
      attempt: 1,
      retryInMs: 1500,
    });
    await refused.dispatcher.drain(5_000);
    expect(refused.receiver.attempts).toHaveLength(1);
    expect(refused.receiver.attempts[0]?.json).toMatchObject({
      type: 'refresh_failed',
      attempt: 1,
      retryInSeconds: 2,
    });
    expect(refused.log.recent(10).map((r) => r.outcome)).toEqual(['failed']);

    const down = await dispatcherTo(onTestFinished, [502, 502, 502, 502], { maxAttempts: 3 });
    down.dispatcher.handle({
      type: 'status_changed',
      name: 'me',
      provider: 'fitbit',
      from: 'active',
      to: 'provider_retired',
    });
    await down.dispatcher.drain(5_000);
    expect(down.receiver.attempts).toHaveLength(3);
    expect(down.log.recent(10).map((r) => r.outcome)).toEqual(['retrying', 'retrying', 'failed']);
  });

  it('sends one recovered webhook per recovery, and abandons (and logs) what is pending at shutdown', async ({
    onTestFinished,
  }) => {
    // The retry must still be pending at shutdown: with maxMs left at 200 it came 100-200 ms later, and on a
    // busy machine it was sometimes delivered before drain() began.
    const { receiver, log, dispatcher } = await dispatcherTo(onTestFinished, [503], {
      baseMs: 60_000,
      maxMs: 60_000,
      maxAttempts: 5,
    });
    // A crash recovery raises both of these in the same tick.
    dispatcher.handle({
      type: 'refreshed',
      name: 'me',
      provider: 'fitbit',
      expiresAt: Date.now() + 1000,
      rotated: true,
      recovered: true,
    });
    dispatcher.handle({
      type: 'status_changed',
      name: 'me',
      provider: 'fitbit',
      from: 'refreshing',
      to: 'active',
    });
    // Events that are not webhooks.
    dispatcher.handle({
      type: 'refreshed',
      name: 'me',
      provider: 'fitbit',
      expiresAt: Date.now() + 1000,
      rotated: true,
      recovered: false,
    });
    dispatcher.handle({ type: 'lock_acquired', name: 'me', provider: 'fitbit', waitedMs: 3 });
    await new Promise((resolve) => setImmediate(resolve));
    await expect.poll(() => receiver.attempts.length).toBe(1);
    expect(receiver.attempts[0]?.json).toMatchObject({ type: 'recovered', reason: 'crash_recovery' });

    // drain(50) gives up on the far-off retry instead of waiting for it (the test's own timeout would cut that off).
    await dispatcher.drain(50);
    expect(log.recent(10).map((r) => r.outcome)).toEqual(['retrying', 'abandoned']);
  });
});

describe.concurrent('webhooks from the daemon', () => {
  it('signals refresh_failed, recovered, needs_reauth and provider_retired with signed bodies', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished, {
      sim: { graceMs: 0 },
      config: {
        webhooks: {
          endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET', name: 'ops' }],
          retryBaseSeconds: 0.05,
        },
      },
    });
    h.env.WEBHOOK_SECRET = SECRET;
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    await d.addConnection('old', 'USER02');
    const key = d.createApiKey(['*']);
    const daemon = await d.startDaemon();
    const refresh = (name: string) =>
      daemon.api(`${daemon.url}/v1/connections/${name}/refresh`, { key, method: 'POST' });

    h.sim.inject({ kind: 'status', status: 503 });
    expect((await refresh('me')).status).toBe(200);
    const failed = await receiver.waitFor((hook) => hook.json.type === 'refresh_failed');
    expect(failed.json).toMatchObject({ connection: { name: 'me', provider: 'fitbit' }, attempt: 1 });
    expect(failed.json.error).toMatch(/503/);
    const recovered = await receiver.waitFor((hook) => hook.json.type === 'recovered');
    expect(recovered.json).toMatchObject({
      connection: { name: 'me' },
      previousStatus: 'failing',
      reason: 'refresh',
    });

    h.seed({ userId: 'USER01' });
    expect((await refresh('me')).status).toBe(409);
    const reauth = await receiver.waitFor((hook) => hook.json.type === 'needs_reauth');
    expect(reauth.json).toMatchObject({ connection: { name: 'me' }, status: 'needs_reauth' });
    expect(reauth.json.error).toMatch(/invalid_grant/);

    h.sim.setRetired(true);
    expect((await refresh('old')).status).toBe(410);
    await receiver.waitFor(
      (hook) => hook.json.type === 'provider_retired' && hook.json.connection.name === 'old',
    );

    expect(receiver.received.filter((hook) => hook.json.type === 'recovered')).toHaveLength(1);
    for (const hook of receiver.received) {
      expect(verify(hook), hook.json.type).toMatchObject({ ok: true });
      h.snapshotSecrets();
      for (const secret of h.secrets) expect(hook.body).not.toContain(secret);
    }
    await daemon.stop();

    const log = JSON.parse(expectSuccess(await h.cli(['webhook', 'log', '--json'])).stdout) as Array<{
      event: string;
      outcome: string;
      endpoint: string;
    }>;
    expect(log.map((r) => r.event)).toEqual([
      'refresh_failed',
      'recovered',
      'needs_reauth',
      'provider_retired',
    ]);
    expect(log.every((r) => r.outcome === 'delivered' && r.endpoint === 'ops')).toBe(true);
  });

  it('`webhook test` sends a signed test event and exits 1 when an endpoint does not accept it', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished, {
      config: { webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET' }] } },
    });
    h.env.WEBHOOK_SECRET = SECRET;

    const ok = expectSuccess(await h.cli(['webhook', 'test']));
    expect(ok.stdout).toMatch(/delivered\s+204/);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.json).toMatchObject({ type: 'test', connection: { name: 'example' } });
    expect(verify(receiver.received[0] as ReceivedWebhook).ok).toBe(true);

    const sample = expectSuccess(
      await h.cli(['webhook', 'test', '--event', 'needs_reauth', '--connection', 'me']),
    );
    expect(sample.code).toBe(0);
    expect(receiver.received[1]?.json).toMatchObject({ type: 'needs_reauth', connection: { name: 'me' } });

    const closed = await startReceiver();
    await closed.close();
    const failed = await h.cli(['webhook', 'test', '--url', closed.url, '--secret', 'env:WEBHOOK_SECRET']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/failed\s+-\s+\d+ ms\s+network error ECONNREFUSED/);
    expect(failed.stderr).toMatch(/1 of 1 endpoint\(s\) did not accept the webhook/);

    const bad = await h.cli([
      'webhook',
      'test',
      '--url',
      'http://example.com/hook',
      '--secret',
      'env:WEBHOOK_SECRET',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--url http:\/\/example.com must use https/);
    expect(readFileSync(join(h.home, 'webhook-deliveries.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
  });
});
