import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config/schema.ts';
import type { KeeperEvent } from '../../src/core/events.ts';
import { silentLogger, type Logger } from '../../src/core/logger.ts';
import { postWebhook } from '../../src/webhooks/deliver.ts';
import type { DeliveryRecord } from '../../src/webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import { webhookSettingsFrom, type WebhookEndpoint } from '../../src/webhooks/endpoints.ts';
import { webhookEventFor, webhookEventTypes, type WebhookPayload } from '../../src/webhooks/events.ts';
import { humanMessage } from '../../src/webhooks/formats.ts';
import { MemoryOutbox } from '../../src/webhooks/memory-outbox.ts';
import { createHarness, expectSuccess } from '../cli/harness.ts';
import { fitbitWithConnection, rejection } from '../engine/setup.ts';
import { startReceiver } from './daemon.ts';

/** whsec_ + base64 of 35 bytes. */
const SECRET = 'whsec_dG9rZW5rZWVwZXItd2ViaG9va3MtdGVzdC1zZWNyZXQtMDE=';
const PASSWORD = 'hunter2-secret';

const settingsOf = (endpoints: unknown[], env: NodeJS.ProcessEnv = {}) =>
  webhookSettingsFrom({ webhooks: { endpoints } } as ConfigFile, env);

/** The one line a config refusal gives. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('not refused');
}

const payload = (): WebhookPayload => ({
  id: `evt_${Math.random().toString(36).slice(2)}`,
  type: 'needs_reauth',
  createdAt: new Date().toISOString(),
  connection: { name: 'fitbit-me', provider: 'fitbit' },
  status: 'needs_reauth',
});

describe('webhook endpoint settings', () => {
  it('refuse a user name or password in an endpoint URL, written or referenced, without showing it', () => {
    for (const url of [
      `https://alice:${PASSWORD}@ntfy.example.com/alerts`,
      'env:NTFY_URL',
      'literal:https://alice:x@ntfy.example.com',
    ]) {
      const message = refusal(() =>
        settingsOf([{ url, format: 'ntfy' }], {
          NTFY_URL: `https://alice:${PASSWORD}@ntfy.example.com/alerts`,
        }),
      );
      expect(message, url).toMatch(
        /^webhooks\.endpoints\.0\.url must not carry a user name or password: for ntfy/,
      );
      expect(message, url).not.toContain(PASSWORD);
    }
  });

  it('accept a literal: URL as the env: and file: references are', () => {
    const [endpoint] = settingsOf([
      { url: 'literal:https://hooks.example.com/x', format: 'slack' },
    ]).endpoints;
    expect(endpoint?.url).toBe('https://hooks.example.com/x');
  });

  it('refuse two endpoints that would share outbox rows: the same name, or the same URL unnamed', () => {
    const named = [
      { url: 'https://a.example.com', format: 'slack', name: 'ops' },
      { url: 'https://b.example.com', format: 'slack' },
      { url: 'https://c.example.com', format: 'slack', name: 'ops' },
    ];
    expect(refusal(() => settingsOf(named))).toBe(
      'webhooks.endpoints.2 repeats webhooks.endpoints.0: give each a distinct name',
    );
    const unnamed = [
      { url: 'https://hooks.example.com/x', format: 'slack' },
      { url: 'https://hooks.example.com/x', format: 'slack' },
    ];
    expect(refusal(() => settingsOf(unnamed))).toBe(
      'webhooks.endpoints.1 repeats webhooks.endpoints.0: give each a distinct name',
    );
    // Naming one of them (or giving each its own URL) is enough.
    const fixed = settingsOf([...unnamed.slice(0, 1), { ...unnamed[1], name: 'second' }]).endpoints;
    expect(fixed.map((endpoint) => endpoint.key)).toEqual(['url:2eef74cce4c2d0c7', 'name:second']);
  });

  it('keep the outbox keys rows already carry: name:<name>, or url:<first 16 hex of the URL’s SHA-256>', async () => {
    const receiver = await startReceiver();
    try {
      const [endpoint] = settingsOf([{ url: receiver.url, format: 'slack' }]).endpoints as [WebhookEndpoint];
      // A row an earlier version queued for this endpoint is delivered by this one.
      const outbox = new MemoryOutbox();
      const key = `url:${(await sha256Hex(receiver.url)).slice(0, 16)}`;
      await outbox.enqueue([
        { eventId: 'evt_old', endpointKey: key, payload: JSON.stringify(payload()), createdAt: Date.now() },
      ]);
      const dispatcher = new WebhookDispatcher({
        endpoints: [endpoint],
        retry: { retryForMs: 60_000, baseMs: 10, maxMs: 10, timeoutMs: 2_000 },
        log: { append: () => undefined },
        logger: silentLogger,
        outbox,
        pollMs: 20,
      });
      await receiver.waitFor(() => true, 5_000);
      await dispatcher.drain(1_000);
      expect(await outbox.pendingCount()).toBe(0);
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('send an ntfy access token as a bearer token; refuse one on another format', async () => {
    const ntfy = await startReceiver();
    try {
      const [endpoint] = settingsOf([{ url: ntfy.url, format: 'ntfy', token: 'env:NTFY_TOKEN' }], {
        NTFY_TOKEN: 'tk_ntfy-access-token',
      }).endpoints as [WebhookEndpoint];
      expect((await postWebhook(endpoint, payload(), { timeoutMs: 2_000 })).ok).toBe(true);
      expect(ntfy.received[0]?.headers.authorization).toBe('Bearer tk_ntfy-access-token');
    } finally {
      await ntfy.close();
    }
    expect(
      refusal(() => settingsOf([{ url: 'https://hooks.example.com', format: 'slack', token: 'env:T' }])),
    ).toBe('webhooks.endpoints.0.token is for format "ntfy" (an ntfy access token)');
  });
});

describe('webhook delivery errors', () => {
  it('never carry the endpoint URL, whatever fetch puts in its error', async () => {
    // Built by hand (the config refuses it): fetch refuses the URL and quotes it in its error.
    const endpoint: WebhookEndpoint = {
      key: 'name:hand-made',
      label: 'hand-made',
      url: `https://alice:${PASSWORD}@ntfy.example.com/alerts`,
      format: 'ntfy',
      events: new Set(webhookEventTypes),
    };
    const result = await postWebhook(endpoint, payload(), { timeoutMs: 2_000 });
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/\[redacted\]/);
    expect(result.error).not.toContain(PASSWORD);
  });

  it('410 Gone is final: one attempt, and one warning that says to remove the endpoint', async () => {
    const receiver = await startReceiver([410, 410, 410]);
    try {
      const [endpoint] = settingsOf([{ url: receiver.url, format: 'slack', name: 'gone' }]).endpoints as [
        WebhookEndpoint,
      ];
      const records: DeliveryRecord[] = [];
      const warnings: Array<[Record<string, unknown>, string]> = [];
      const logger: Logger = {
        ...silentLogger,
        warn: (fields: object, message: string) =>
          void warnings.push([fields as Record<string, unknown>, message]),
      };
      const dispatcher = new WebhookDispatcher({
        endpoints: [endpoint],
        retry: { retryForMs: 60_000, maxAttempts: 3, baseMs: 10, maxMs: 10, timeoutMs: 2_000 },
        log: { append: (record) => void records.push(record) },
        logger,
      });
      dispatcher.send({ type: 'needs_reauth', connection: { name: 'me', provider: 'fitbit' } });
      await dispatcher.drain(2_000);
      expect(receiver.attempts).toHaveLength(1);
      expect(records.map((r) => [r.outcome, r.status, r.error])).toEqual([
        ['failed', 410, 'endpoint says it is gone (410): remove it from the config'],
      ]);
      expect(warnings.map(([fields, message]) => [message, fields.error])).toEqual([
        ['webhook failed', 'endpoint says it is gone (410): remove it from the config'],
      ]);
    } finally {
      await receiver.close();
    }
  });
});

describe('`webhook test`', () => {
  it('fails when one of two endpoints on one origin (as every Slack webhook is) refuses, naming each apart', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver([404]);
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished, {
      config: {
        webhooks: {
          endpoints: [
            { url: `${receiver.url}/T000/AAAA`, format: 'slack' },
            { url: `${receiver.url}/T000/BBBB`, format: 'slack' },
          ],
        },
      },
    });
    const result = await h.cli(['webhook', 'test']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/1 of 2 endpoint\(s\) did not accept the webhook/);
    const origin = new URL(receiver.url).origin;
    expect(result.stdout).toContain(`webhooks.endpoints.0 (${origin})`);
    expect(result.stdout).toContain(`webhooks.endpoints.1 (${origin})`);
    const log = readFileSync(join(h.home, 'webhook-deliveries.jsonl'), 'utf8');
    for (const text of [result.stdout, log]) expect(text).not.toMatch(/AAAA|BBBB/);
  });

  it('--url needs nothing of the configured endpoints (their secrets need not resolve here)', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished, {
      config: { webhooks: { endpoints: [{ url: 'env:TK_SLACK_URL', format: 'slack' }] } },
    });
    h.env.HOOK_SECRET = SECRET;
    const result = expectSuccess(
      await h.cli(['webhook', 'test', '--url', receiver.url, '--secret', 'env:HOOK_SECRET']),
    );
    expect(result.stdout).toMatch(/delivered\s+204/);
    expect(receiver.received).toHaveLength(1);
  });
});

describe('provider_retired webhooks', () => {
  it('name the successor the engine reports, so the message says what to run', async () => {
    const events: KeeperEvent[] = [];
    const { keeper, sim, name } = await fitbitWithConnection();
    keeper.onEvent((event) => events.push(event));
    sim.setRetired(true);
    await rejection(keeper.refresh(name));
    const retired = events.find(
      (event) => event.type === 'status_changed' && event.to === 'provider_retired',
    );
    const body = retired && webhookEventFor(retired);
    expect(body).toMatchObject({ type: 'provider_retired', successor: 'google-health' });
    const text = humanMessage(
      { ...(body as WebhookPayload), id: 'evt_1', createdAt: '' },
      undefined,
      Date.now(),
    ).text;
    expect(text).toContain(`tokenkeeper connect google-health --replace ${name}`);
  });
});

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Buffer.from(digest).toString('hex');
}
