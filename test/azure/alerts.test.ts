import { createHash } from 'node:crypto';
import { HttpRequest } from '@azure/functions';
import { afterEach, describe, expect, it } from 'vitest';
import { FunctionAlerts, functionWebhookSettings } from '../../src/azure/alerts.ts';
import { CALLER_KEY_HEADER, createHttpHandler } from '../../src/azure/http-handler.ts';
import { invocationLogger } from '../../src/azure/invocation-log.ts';
import { createTimerHandler } from '../../src/azure/timer-handler.ts';
import { startReceiver, type ReceivedWebhook } from '../server/daemon.ts';
import { verifies } from '../support/standard-webhooks.ts';
import { webhookEventTypes } from '../../src/webhooks/events.ts';
import { invocation, KEY, sharedAzure, timerFiring, type AzureWorld } from './harness.ts';

const SECRET = 'whsec_dG9rZW5rZWVwZXItYXp1cmUtYWxlcnRzLXRlc3Qtc2VjcmV0MQ==';
const CALLER_KEY = 'caller-key-for-the-alerts-test-0123456789';

function failure(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('accepted');
}

describe('alerts from the Function: signed webhooks and failed invocations', () => {
  const azure = sharedAzure();
  let world: AzureWorld;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  afterEach(async () => {
    await world?.close();
    await receiver?.close();
  });

  const appSettings = () => ({
    TOKENKEEPER_WEBHOOK_URL: receiver.url,
    TOKENKEEPER_WEBHOOK_SECRET: SECRET,
  });
  /** A seeded vault, a webhook receiver, and one Functions instance whose webhooks come from app settings. */
  const alertingInstance = async () => {
    world = await azure.world();
    receiver = await startReceiver();
    const grant = world.seedLikeCSharp();
    const alerts = new FunctionAlerts();
    const keeper = await world.functionKeeper({
      appSettings: appSettings(),
      alerts,
      logger: invocationLogger,
    });
    return { grant, alerts, keeper };
  };
  const verified = (hook: ReceivedWebhook) => verifies(SECRET, hook);

  it('a revoked grant: needs_reauth is sent once (before the run returns), every run logs an error and fails', async () => {
    const { grant, alerts, keeper } = await alertingInstance();
    const timer = createTimerHandler(async () => keeper, { alerts });
    await world.revokeGrant(grant.refreshToken);

    const first = invocation('tokenkeeperRefresh');
    await expect(timer(timerFiring(), first.context)).rejects.toThrow(
      /^tokenkeeper: 1 connection\(s\) need attention: fitbit needs a human$/,
    );
    // Delivered before the invocation returned: no waiting here.
    expect(receiver.received.map((hook) => hook.json.type)).toEqual(['needs_reauth']);
    const [hook] = receiver.received;
    expect(hook && verified(hook)).toBe(true);
    expect(hook?.json).toMatchObject({
      type: 'needs_reauth',
      connection: { name: 'fitbit', provider: 'fitbit' },
      status: 'needs_reauth',
      previousStatus: 'active',
    });
    expect(hook?.headers['tokenkeeper-event']).toBe('needs_reauth');
    const errorLine = /^error: tokenkeeper: connection "fitbit" is needs_reauth: reconnect it/;
    expect(first.logs.filter((line) => errorLine.test(line))).toHaveLength(1);
    // The keeper's own log went to this invocation too, and so did the delivery record.
    expect(first.logs.some((line) => line.includes('"message":"webhook delivery"'))).toBe(true);

    // The next run: still a failed invocation with an error line, but no second webhook.
    const second = invocation('tokenkeeperRefresh');
    await expect(timer(timerFiring(), second.context)).rejects.toThrow(/fitbit needs a human/);
    expect(second.logs.filter((line) => errorLine.test(line))).toHaveLength(1);
    expect(receiver.attempts).toHaveLength(1);

    for (const line of [...first.logs, ...second.logs]) {
      expect(line).not.toContain('\n');
      for (const secret of [grant.refreshToken, grant.accessToken, SECRET, KEY, world.sim.clientSecret]) {
        expect(line).not.toContain(secret);
      }
    }
  });

  it('an HTTP token request that finds the grant revoked alerts the same way, before it answers', async () => {
    const { grant, alerts, keeper } = await alertingInstance();
    await world.revokeGrant(grant.refreshToken);
    const env = {
      TOKENKEEPER_HTTP_CALLERS: `fitbit=${createHash('sha256').update(CALLER_KEY).digest('hex')}`,
    };
    const http = invocation('tokenkeeper');
    const response = await createHttpHandler(async () => keeper, env, { alerts })(
      new HttpRequest({
        method: 'GET',
        url: 'https://tokens.example.net/api/tokenkeeper/token',
        params: { action: 'token' },
        headers: { [CALLER_KEY_HEADER]: CALLER_KEY },
      }),
      http.context,
    );
    expect(response.status).toBe(409);
    expect(receiver.received.map((hook) => hook.json.type)).toEqual(['needs_reauth']);
    expect(receiver.received[0] && verified(receiver.received[0])).toBe(true);
    expect(http.logs.join('\n')).not.toContain(grant.refreshToken);
  });
});

describe('webhook app settings', () => {
  const base = {
    TOKENKEEPER_WEBHOOK_URL: 'https://hooks.example.net/tokenkeeper',
    TOKENKEEPER_WEBHOOK_SECRET: SECRET,
  };

  it('make one endpoint: all events by default, or the comma list of TOKENKEEPER_WEBHOOK_EVENTS', () => {
    expect(functionWebhookSettings({}, {}).endpoints).toEqual([]);
    const [all] = functionWebhookSettings({}, base).endpoints;
    expect(all).toMatchObject({
      url: base.TOKENKEEPER_WEBHOOK_URL,
      secret: SECRET,
      label: 'TOKENKEEPER_WEBHOOK_URL (https://hooks.example.net)',
    });
    expect([...(all?.events ?? [])]).toEqual([...webhookEventTypes]);
    const [some] = functionWebhookSettings(
      {},
      {
        ...base,
        TOKENKEEPER_WEBHOOK_EVENTS: ' needs_reauth , provider_retired',
      },
    ).endpoints;
    expect([...(some?.events ?? [])]).toEqual(['needs_reauth', 'provider_retired']);
  });

  it('refuse bad values with one line naming the setting (and never the secret)', () => {
    for (const [env, pattern] of [
      [
        { ...base, TOKENKEEPER_WEBHOOK_EVENTS: 'needs_reauth,needs_reuath' },
        /^TOKENKEEPER_WEBHOOK_EVENTS entry 2 \("needs_reuath"\): /,
      ],
      [{ ...base, TOKENKEEPER_WEBHOOK_EVENTS: ' , ' }, /^TOKENKEEPER_WEBHOOK_EVENTS/],
      [
        { ...base, TOKENKEEPER_WEBHOOK_URL: 'http://hooks.example.net/x' },
        /^TOKENKEEPER_WEBHOOK_URL .*must use https/,
      ],
      [
        { TOKENKEEPER_WEBHOOK_URL: base.TOKENKEEPER_WEBHOOK_URL },
        /^TOKENKEEPER_WEBHOOK_URL is set but TOKENKEEPER_WEBHOOK_SECRET is not/,
      ],
      [
        { TOKENKEEPER_WEBHOOK_SECRET: SECRET },
        /^TOKENKEEPER_WEBHOOK_SECRET is set but TOKENKEEPER_WEBHOOK_URL is not/,
      ],
      [
        {
          ...base,
          TOKENKEEPER_WEBHOOK_SECRET:
            '@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/Hook)',
        },
        /^TOKENKEEPER_WEBHOOK_SECRET is a Key Vault reference the platform did not resolve/,
      ],
      [
        { ...base, TOKENKEEPER_WEBHOOK_SECRET: 'a-plain-password-not-whsec' },
        /^TOKENKEEPER_WEBHOOK_SECRET is not a Standard Webhooks secret .*`tokenkeeper webhook secret`$/,
      ],
    ] as const) {
      const error = failure(() => functionWebhookSettings({}, env));
      expect(error.code).toBe('config');
      expect(error.message).toMatch(pattern);
      expect(error.message).not.toContain('\n');
      expect(error.message).not.toContain(SECRET);
    }
  });

  it('a bad setting stops the keeper at start, before the vault is opened', async () => {
    const alerts = new FunctionAlerts();
    const { createFunctionKeeper } = await import('../../src/azure/function-keeper.ts');
    await expect(
      createFunctionKeeper({
        env: { TOKENKEEPER_KEY: KEY, ...base, TOKENKEEPER_WEBHOOK_EVENTS: 'everything' },
        settings: { store: 'keyvault://127.0.0.1:1', schedule: '0 */15 * * * *', dataDir: '/nonexistent' },
        config: {},
        alerts,
      }),
    ).rejects.toThrow(/^TOKENKEEPER_WEBHOOK_EVENTS entry 1 \("everything"\)/);
  });
});
