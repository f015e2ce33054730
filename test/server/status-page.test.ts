import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHarness, expectSuccess, freePort } from '../cli/harness.ts';
import { repoRoot } from '../cli/run-cli.ts';
import { launchChromium } from './browser.ts';
import { api, createApiKey, startDaemon, startReceiver } from './daemon.ts';

describe('status page in headless Chromium', () => {
  it('shows health, live countdowns, errors and history, and reconnects an account through the consent flow', async ({
    onTestFinished,
  }) => {
    const callbackPort = await freePort();
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const h = await createHarness(onTestFinished, {
      sim: { graceMs: 0 },
      config: {
        connect: { port: callbackPort },
        webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET', events: ['recovered'] }] },
      },
    });
    h.env.WEBHOOK_SECRET = 'whsec_status_page_test';
    await h.addConnection('me');
    await h.addConnection('backup', 'USER02');
    const key = await createApiKey(h, ['*']);
    const daemon = await startDaemon(h);

    // History the daemon sees: a refresh that fails once with 503 then works, and an account that is revoked.
    h.sim.inject({ kind: 'status', status: 503 });
    expect((await api(`${daemon.url}/v1/connections/backup/refresh`, { key, method: 'POST' })).status).toBe(
      200,
    );
    h.seed({ userId: 'USER01' });
    expect((await api(`${daemon.url}/v1/connections/me/refresh`, { key, method: 'POST' })).status).toBe(409);

    const browser = await launchChromium(onTestFinished);
    const page = await browser.newPage();
    const scriptErrors: string[] = [];
    page.on('pageerror', (error) => scriptErrors.push(error.message));
    page.on('console', (message) => {
      // Only the status page's own errors (the provider's and callback pages are not ours).
      if (message.type() === 'error' && message.location().url.startsWith(daemon.url)) {
        scriptErrors.push(`${message.text()} ${message.location().url}`);
      }
    });
    const response = await page.goto(`${daemon.url}/`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toMatch(/script-src 'nonce-/);

    const me = page.locator('tr[data-connection="me"]');
    const backup = page.locator('tr[data-connection="backup"]');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(2);
    expect(await me.locator('.badge').textContent()).toBe('needs reauth');
    expect(await me.locator('.last-error').textContent()).toMatch(/invalid_grant/);
    expect(await me.locator('a.reconnect.urgent').count()).toBe(1);
    expect(await me.locator('svg.chart rect.stop').count()).toBe(1);
    expect(await me.locator('svg.chart rect.ok').count()).toBe(1); // its last refresh, from the store
    expect(await backup.locator('.badge').textContent()).toBe('healthy');
    expect(await backup.locator('td').nth(1).textContent()).toBe('fitbit');
    expect(await backup.locator('td').nth(2).textContent()).toBe('USER02');
    expect(await backup.locator('.last-error').textContent()).toBe('none');
    expect(await backup.locator('time.ago').textContent()).toMatch(/^\d+s ago$/);
    // From the store at start, then the daemon's own: a failed attempt (503), then the successful retry.
    expect(
      await backup
        .locator('svg.chart rect:not(.slot)')
        .evaluateAll((bars) => bars.map((b) => b.getAttribute('class'))),
    ).toEqual(['ok', 'fail', 'ok']);
    expect(await page.locator('#summary').textContent()).toBe('2 connections · 1 healthy · 1 needs a human');

    // The countdown is live: it ticks in the browser without a reload.
    const countdown = backup.locator('.countdown');
    const first = await countdown.textContent();
    expect(first).toMatch(/^7h 5\dm \d\ds$/);
    await expect.poll(() => countdown.textContent(), { timeout: 5_000 }).not.toBe(first);

    const artifacts = join(repoRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'status-page.png'), fullPage: true });

    const html = await page.content();
    h.snapshotSecrets();
    for (const secret of h.secrets) expect(html).not.toContain(secret);

    // Reconnect: the link starts the authorization-code flow; the (simulated) provider consents and redirects to
    // the callback port, and the connection is active again.
    // Only a logged-in operator may: the one-time link from `tokenkeeper login` opens a session, and the page then
    // offers a Reconnect button (a form carrying the session's CSRF token) instead of the login pointer.
    expect(await me.locator('form button.reconnect').count()).toBe(0);
    const login = expectSuccess(await h.cli(['login', '--url', daemon.url])).stdout.trim();
    await page.goto(login);
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await me.locator('form button.reconnect.urgent').count()).toBe(1);
    await me.locator('button.reconnect').click();
    await page.waitForURL(new RegExp(`^http://127\\.0\\.0\\.1:${callbackPort}/callback`));
    expect(await page.locator('h1').textContent()).toBe('Connected');
    await expect
      .poll(
        async () => (await api<{ status: string }>(`${daemon.url}/v1/connections/me`, { key })).body.status,
      )
      .toBe('active');
    await page.goto(`${daemon.url}/`);
    expect(await me.locator('.badge').textContent()).toBe('healthy');
    expect(await me.locator('.last-error').textContent()).toBe('none');
    const token = await api<{ accessToken: string }>(`${daemon.url}/v1/connections/me/token`, { key });
    const profile = await fetch(h.sim.profileUrl, {
      headers: { authorization: `Bearer ${token.body.accessToken}` },
    });
    expect(profile.status).toBe(200);
    expect(scriptErrors).toEqual([]);
    const recovered = await receiver.waitFor((hook) => hook.json.connection.name === 'me');
    expect(recovered.json).toMatchObject({
      type: 'recovered',
      previousStatus: 'needs_reauth',
      reason: 'reconnected',
    });

    await daemon.stop();
  });
});
