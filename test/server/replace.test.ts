import { describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import { replaceAccount } from '../../src/flows/connect-flow.ts';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';
import { approve } from '../cli/consent.ts';
import { GOOGLE_TOKEN_PATTERN, GOOGLE_USER, twoProviders } from '../cli/google-health.ts';
import { createHarness, freePort, statusJson } from '../cli/harness.ts';
import { verifies } from '../support/standard-webhooks.ts';
import { startReceiver, type ReceivedWebhook } from './daemon.ts';
import { openDaemonKeeper } from './in-process.ts';
import { consentUrlOf, operatorLogin } from './operator.ts';

const SECRET = generateWebhookSecret();

const verified = (hook: ReceivedWebhook) => verifies(SECRET, hook);

describe('a running daemon sees a retired connection replaced, and one whose provider answers again', () => {
  it('sends `replaced` when its keeper moves a retired name to google-health, and `recovered` after a forced refresh', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const { h, google } = await twoProviders(onTestFinished, {
      webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET' }], retryBaseSeconds: 0.05 },
    });
    h.env.WEBHOOK_SECRET = SECRET;
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('fitbit-me');
    await d.addConnection('other', 'USER02');
    const key = d.createApiKey(['fitbit-me', 'other']);
    const events: KeeperEvent[] = [];
    d.keeper.onEvent((event) => events.push(event));
    const daemon = await d.startDaemon();
    const refresh = (name: string) =>
      daemon.api(`${daemon.url}/v1/connections/${name}/refresh`, { key, method: 'POST' });

    h.sim.setRetired(true);
    expect((await refresh('fitbit-me')).status).toBe(410);
    expect((await refresh('other')).status).toBe(410);
    const retired = await daemon.api<{ error: { message: string } }>(
      `${daemon.url}/v1/connections/fitbit-me/token`,
      { key },
    );
    expect(retired.status).toBe(410);
    expect(JSON.stringify(retired.body)).toContain('`tokenkeeper connect google-health --replace fitbit-me`');

    // The consent runs at Google with Google's client; the redirect comes back to a loopback port.
    const browser: Array<Promise<Response>> = [];
    const replaced = await replaceAccount(d.keeper, {
      provider: 'google-health',
      name: 'fitbit-me',
      clientId: google.clientId,
      clientSecret: google.clientSecret,
      scopes: ['https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly'],
      redirectUri: 'http://127.0.0.1:0/callback',
      timeoutMs: 15_000,
      presentAuthorizationUrl: async (url) => {
        browser.push(approve(url).then((location) => fetch(location)));
      },
    });
    expect((await Promise.all(browser)).map((page) => page.status)).toEqual([200]);
    expect(replaced).toMatchObject({
      summary: { name: 'fitbit-me', provider: 'google-health', status: 'active' },
      previousProvider: 'fitbit',
      revoked: false,
      revokeError: expect.stringMatching(/410/),
    });
    expect(events.filter((event) => event.type === 'replaced')).toEqual([
      {
        type: 'replaced',
        name: 'fitbit-me',
        provider: 'google-health',
        previousProvider: 'fitbit',
        revoked: false,
      },
    ]);
    const hook = await receiver.waitFor((received) => received.json.type === 'replaced');
    expect(hook.json).toMatchObject({
      connection: { name: 'fitbit-me', provider: 'google-health' },
      status: 'active',
      replaced: { previousProvider: 'fitbit', revoked: false },
    });
    expect(verified(hook)).toBe(true);

    // The daemon serves the name's new token to the key that was scoped to it all along.
    const token = await daemon.api<{ accessToken: string }>(`${daemon.url}/v1/connections/fitbit-me/token`, {
      key,
    });
    expect(token.status).toBe(200);
    expect(token.body.accessToken).toMatch(GOOGLE_TOKEN_PATTERN);

    // Fitbit answers again: a forced refresh (the API's) brings the other connection back, announced once.
    h.sim.setRetired(false);
    expect((await refresh('other')).status).toBe(200);
    const recovered = await receiver.waitFor(
      (received) => received.json.type === 'recovered' && received.json.connection.name === 'other',
    );
    expect(recovered.json).toMatchObject({
      status: 'active',
      previousStatus: 'provider_retired',
      reason: 'refresh',
    });
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'status_changed',
        name: 'other',
        from: 'provider_retired',
        to: 'active',
      }),
    );

    h.snapshotSecrets();
    for (const received of receiver.received) {
      for (const secret of h.secrets) expect(received.body).not.toContain(secret);
      expect(received.body).not.toMatch(GOOGLE_TOKEN_PATTERN);
    }
  });

  it("the status page's Reconnect of a retired connection moves it to the successor with the successor's client", async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const { h, google } = await twoProviders(onTestFinished, {
      connect: { port: await freePort() },
      webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET' }], retryBaseSeconds: 0.05 },
    });
    h.env.WEBHOOK_SECRET = SECRET;
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('fitbit-me');
    const daemon = await d.startDaemon();
    h.sim.setRetired(true);
    await d.keeper.refresh('fitbit-me', { force: true }).catch(() => undefined);
    expect((await statusJson(h))[0]).toMatchObject({
      status: 'provider_retired',
      successor: 'google-health',
    });

    const { cookie, csrf } = await operatorLogin(h, daemon);
    const start = await daemon.fetch(`${daemon.url}/connections/fitbit-me/reconnect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf }).toString(),
      redirect: 'manual',
    });
    expect(start.status).toBe(200);
    const consent = new URL(consentUrlOf(await start.text()) as string);
    expect(consent.origin).toBe(google.url);
    expect(consent.searchParams.get('client_id')).toBe(google.clientId);
    expect(consent.searchParams.get('scope')).toBe(
      'https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly',
    );
    expect((await fetch(await approve(consent.href))).status).toBe(200);
    await daemon.waitForOutput(/"msg":"reconnected from the status page"/);

    expect((await statusJson(h))[0]).toMatchObject({
      name: 'fitbit-me',
      provider: 'google-health',
      status: 'active',
      successor: null,
    });
    const hook = await receiver.waitFor((received) => received.json.type === 'replaced');
    expect(hook.json).toMatchObject({ replaced: { previousProvider: 'fitbit', revoked: false } });
    const userinfo = await fetch(google.profileUrl, {
      headers: { authorization: `Bearer ${await d.keeper.accessToken('fitbit-me')}` },
    });
    expect(await userinfo.json()).toMatchObject({ sub: GOOGLE_USER });
  });

  it('the page refuses to move a retired connection when the successor has no client in the config', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { config: { connect: { port: await freePort() } } });
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const daemon = await d.startDaemon();
    h.sim.setRetired(true);
    await d.keeper.refresh('me', { force: true }).catch(() => undefined);
    const before = await d.keeper.store.get('me');

    const { cookie, csrf } = await operatorLogin(h, daemon);
    const start = await daemon.fetch(`${daemon.url}/connections/me/reconnect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf }).toString(),
      redirect: 'manual',
    });
    expect(start.status).toBe(409);
    expect(await start.text()).toContain(
      'set providers.google-health.clientId (and clientSecret) in the config to move it to google-health from here',
    );
    expect(await d.keeper.store.get('me')).toEqual(before);
  });
});
