import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.ts';
import { DeliveryLog } from '../../src/webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import type { WebhookEndpoint } from '../../src/webhooks/endpoints.ts';
import { webhookEventTypes } from '../../src/webhooks/events.ts';
import { createHarness, expectSuccess, type OnFinished } from '../cli/harness.ts';
import { verifiedJson, verifies } from '../support/standard-webhooks.ts';
import { startReceiver, type ReceivedWebhook } from './daemon.ts';
import { openDaemonKeeper } from './in-process.ts';

/** whsec_ + base64 of 35 bytes. */
const SECRET = 'whsec_dG9rZW5rZWVwZXItd2ViaG9va3MtdGVzdC1zZWNyZXQtMDE=';
const OLD_SECRET = 'whsec_cm90YXRlZC1vdXQtb2xkLXdlYmhvb2stc2VjcmV0LTAwMDAx';

function verify(hook: ReceivedWebhook, secret = SECRET) {
  return verifies(secret, hook);
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
    key: 'name:ops',
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

describe.concurrent('Standard Webhooks signatures, checked by the standardwebhooks package', () => {
  it('every attempt is signed over the exact body: same webhook-id on retries, a fresh timestamp, each secret of a rotation', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver([503]);
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished, {
      config: {
        webhooks: {
          endpoints: [
            { url: receiver.url, secret: 'env:WEBHOOK_SECRET', previousSecrets: ['env:OLD_WEBHOOK_SECRET'] },
          ],
          retryBaseSeconds: 0.05,
        },
      },
    });
    h.env.WEBHOOK_SECRET = SECRET;
    h.env.OLD_WEBHOOK_SECRET = OLD_SECRET;
    expectSuccess(await h.cli(['webhook', 'test', '--event', 'needs_reauth', '--attempts', '2']));

    expect(receiver.attempts).toHaveLength(2);
    const [first, second] = receiver.attempts as [ReceivedWebhook, ReceivedWebhook];
    // The library verifies with the new secret and, while receivers still have it, with the old one.
    for (const attempt of receiver.attempts) {
      expect(verifiedJson(SECRET, attempt)).toMatchObject({
        type: 'needs_reauth',
        connection: { name: 'example' },
      });
      expect(verifiedJson(OLD_SECRET, attempt)).toEqual(JSON.parse(attempt.body));
      expect(attempt.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/);
      expect(attempt.headers['content-type']).toBe('application/json');
      expect(attempt.headers['tokenkeeper-event']).toBe('needs_reauth');
      expect(attempt.headers['user-agent']).toMatch(/^tokenkeeper\//);
      expect(attempt.headers['tokenkeeper-signature']).toBeUndefined();
    }
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(first.headers['webhook-id']).toBe(first.json.id);
    expect(Number(second.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(
      Number(first.headers['webhook-timestamp']),
    );

    // A changed body, a changed id or another secret fails.
    const tampered = { ...first, body: first.body.replace('needs_reauth', 'recovered') };
    expect(() => verifiedJson(SECRET, tampered)).toThrow(/No matching signature/);
    const otherId = { ...first, headers: { ...first.headers, 'webhook-id': 'evt_other' } };
    expect(verify(otherId)).toBe(false);
    expect(verify(first, 'whsec_c3RhdHVzLXBhZ2UtdGVzdC13ZWJob29rLXNlY3JldC0wMDAx')).toBe(false);
    // A replay outside the library's 5-minute tolerance fails too.
    const old = String(Number(first.headers['webhook-timestamp']) - 3600);
    expect(() =>
      verifiedJson(SECRET, { ...first, headers: { ...first.headers, 'webhook-timestamp': old } }),
    ).toThrow(/too old/);
  });

  it('refuses at start a secret that is not whsec_ base64 of 24–64 bytes, and a standard endpoint without one', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished, {
      config: { webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET' }] } },
    });
    const short = `whsec_${Buffer.alloc(16, 7).toString('base64')}`;
    const refusals = {
      whsec_test_0123456789abcdef: 'not base64',
      [short]: 'only 16 bytes',
      [SECRET.slice('whsec_'.length)]: 'no prefix',
      [`${SECRET.slice(0, -1)}`]: 'padding cut',
    };
    for (const [secret, what] of Object.entries(refusals)) {
      h.env.WEBHOOK_SECRET = secret;
      const refused = await h.cli(['webhook', 'test']);
      expect(refused.code, what).toBe(2);
      expect(refused.stderr, what).toMatch(
        /webhooks\.endpoints\.0\.secret is not a Standard Webhooks secret \(whsec_ followed by the base64 of 24–64 random bytes\): generate one with `tokenkeeper webhook secret`/,
      );
      expect(refused.stderr, what).not.toContain(secret);
    }
    expect(receiver.attempts).toEqual([]);

    const unsigned = await createHarness(onTestFinished, {
      config: { webhooks: { endpoints: [{ url: receiver.url }] } },
    });
    const missing = await unsigned.cli(['webhook', 'test']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /webhooks\.endpoints\.0\.secret is missing: .*`tokenkeeper webhook secret`/,
    );
  });

  it('`webhook secret` prints a new secret each time that signs and verifies', async ({ onTestFinished }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished);
    const made = expectSuccess(await h.cli(['webhook', 'secret']));
    const secret = made.stdout.trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(made.stderr).toMatch(/give the receiver the same value/);
    expect(expectSuccess(await h.cli(['webhook', 'secret'])).stdout.trim()).not.toBe(secret);
    h.env.FRESH_SECRET = secret;
    expectSuccess(await h.cli(['webhook', 'test', '--url', receiver.url, '--secret', 'env:FRESH_SECRET']));
    expect(verifiedJson(secret, receiver.received[0] as ReceivedWebhook)).toMatchObject({ type: 'test' });
  });
});

describe.concurrent('Slack, Discord and ntfy formats', () => {
  it('`webhook test` sends each its short message with the reconnect link, never a secret or a URL in the log', async ({
    onTestFinished,
  }) => {
    const slack = await startReceiver();
    const discord = await startReceiver();
    const ntfy = await startReceiver();
    for (const r of [slack, discord, ntfy]) onTestFinished(() => r.close());
    const h = await createHarness(onTestFinished, {
      config: {
        server: { publicUrl: 'https://keeper.example.com' },
        webhooks: {
          endpoints: [
            { url: 'env:SLACK_URL', format: 'slack' },
            { url: discord.url, format: 'discord', name: 'discord' },
            { url: ntfy.url, format: 'ntfy', secret: 'env:WEBHOOK_SECRET' },
          ],
        },
      },
    });
    h.env.WEBHOOK_SECRET = SECRET;
    h.env.SLACK_URL = `${slack.url}/T000/B000/XXXX`;
    const sent = expectSuccess(
      await h.cli(['webhook', 'test', '--event', 'needs_reauth', '--connection', 'fitbit-me']),
    );
    const message =
      'fitbit-me (example) needs you to reconnect: https://keeper.example.com/connections/fitbit-me/reconnect';

    expect(slack.received.map((hook) => JSON.parse(hook.body))).toEqual([{ text: message }]);
    expect(slack.received[0]?.headers['content-type']).toBe('application/json');
    expect(discord.received.map((hook) => JSON.parse(hook.body))).toEqual([
      { content: message, allowed_mentions: { parse: [] } },
    ]);
    const [push] = ntfy.received as [ReceivedWebhook];
    expect(push.body).toBe(message);
    expect(push.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      title: 'fitbit-me needs you to reconnect',
      priority: 'high',
      tags: 'warning,needs_reauth',
      click: 'https://keeper.example.com/connections/fitbit-me/reconnect',
    });
    // Given a secret, any format is signed over the body it sends; without one it carries no signature.
    expect(verify(push)).toBe(true);
    expect(slack.received[0]?.headers['webhook-signature']).toBeUndefined();

    // Their URLs are their secrets: the output and the delivery log name origins only.
    const log = readFileSync(join(h.home, 'webhook-deliveries.jsonl'), 'utf8');
    for (const text of [sent.stdout, sent.stderr, log]) {
      expect(text).not.toContain('/T000/B000/XXXX');
      expect(text).not.toContain(SECRET);
    }
    for (const hook of [...slack.received, ...discord.received, push]) {
      expect(`${JSON.stringify(hook.headers)}${hook.body}`).not.toContain(SECRET);
    }

    // --url tries a format before it is configured; only "standard" needs a secret.
    const tried = expectSuccess(
      await h.cli(['webhook', 'test', '--url', discord.url, '--format', 'discord', '--event', 'recovered']),
    );
    expect(tried.stdout).toMatch(/delivered\s+204/);
    expect(JSON.parse(discord.received[1]?.body ?? '{}')).toMatchObject({
      content: 'example (example) works again',
    });
    const unsigned = await h.cli(['webhook', 'test', '--url', discord.url]);
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toMatch(/--url needs --secret/);

    // A URL from a reference that is not one is refused without showing it.
    h.env.SLACK_URL = 'hooks.slack.example/services/T000/B000/XXXX';
    const bad = await h.cli(['webhook', 'test']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/webhooks\.endpoints\.0\.url: the value of env:SLACK_URL is not a valid URL/);
    expect(bad.stderr).not.toContain('XXXX');
  });

  it('refuses a server.publicUrl that is not https, or not an origin (the page ignores a path)', async ({
    onTestFinished,
  }) => {
    const notOrigin =
      /server\.publicUrl must be the origin .* \(like https:\/\/keeper\.example\.com\), without a path/;
    for (const [publicUrl, refusal] of [
      ['http://keeper.example.com', /server\.publicUrl http:\/\/keeper\.example\.com must use https/],
      ['https://keeper.example.com/?x=1', notOrigin],
      ['https://keeper.example.com/tk/', notOrigin],
      ['keeper.example.com', /server\.publicUrl "keeper\.example\.com" is not a valid URL/],
    ] as const) {
      const h = await createHarness(onTestFinished, {
        config: {
          server: { publicUrl },
          webhooks: { endpoints: [{ url: 'https://hooks.example.com', format: 'slack' }] },
        },
      });
      const refused = await h.cli(['webhook', 'test']);
      expect(refused.code, publicUrl).toBe(2);
      expect(refused.stderr, publicUrl).toMatch(refusal);
    }
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
    const ids = new Set(receiver.attempts.map((hook) => hook.headers['webhook-id']));
    expect(ids.size).toBe(1); // the same delivery each time, so receivers can de-duplicate
    for (const attempt of receiver.attempts) {
      expect(verify(attempt)).toBe(true);
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

  it('never sends a standard delivery it cannot sign: an endpoint built with a bad secret fails at once', async ({
    onTestFinished,
  }) => {
    const { receiver, log, dispatcher } = await dispatcherTo(onTestFinished, []);
    const endpoint: WebhookEndpoint = {
      key: 'name:hand-made',
      label: 'hand-made',
      url: receiver.url,
      secret: 'not-whsec',
      events: new Set(),
    };
    await dispatcher.deliver(endpoint, {
      id: 'evt_1',
      type: 'test',
      createdAt: '',
      connection: { name: 'me', provider: 'x' },
    });
    expect(receiver.attempts).toEqual([]);
    const [record] = log.recent(10);
    expect(record).toMatchObject({ endpoint: 'hand-made', outcome: 'failed', attempt: 1 });
    expect(record?.error).toMatch(/the signing secret of hand-made is not a Standard Webhooks secret/);
    expect(JSON.stringify(log.recent(10))).not.toContain('not-whsec');
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
      expect(verify(hook), hook.json.type).toBe(true);
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
    expect(verify(receiver.received[0] as ReceivedWebhook)).toBe(true);

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
