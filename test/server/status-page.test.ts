import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHarness, expectSuccess, freePort, statusJson } from '../cli/harness.ts';
import { repoRoot } from '../cli/run-cli.ts';
import { launchChromium } from './browser.ts';
import { createApiKey, startDaemon, startReceiver } from './daemon.ts';

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
    h.env.WEBHOOK_SECRET = 'whsec_c3RhdHVzLXBhZ2UtdGVzdC13ZWJob29rLXNlY3JldC0wMDAx';
    await h.addConnection('me');
    await h.addConnection('backup', 'USER02');
    const key = await createApiKey(h, ['*']);
    const daemon = await startDaemon(h);

    // History the daemon sees: a refresh that fails once with 503 then works, and an account that is revoked.
    h.sim.inject({ kind: 'status', status: 503 });
    expect(
      (await daemon.api(`${daemon.url}/v1/connections/backup/refresh`, { key, method: 'POST' })).status,
    ).toBe(200);
    h.seed({ userId: 'USER01' });
    expect(
      (await daemon.api(`${daemon.url}/v1/connections/me/refresh`, { key, method: 'POST' })).status,
    ).toBe(409);

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
        async () =>
          (await daemon.api<{ status: string }>(`${daemon.url}/v1/connections/me`, { key })).body.status,
      )
      .toBe('active');
    await page.goto(`${daemon.url}/`);
    expect(await me.locator('.badge').textContent()).toBe('healthy');
    expect(await me.locator('.last-error').textContent()).toBe('none');
    const token = await daemon.api<{ accessToken: string }>(`${daemon.url}/v1/connections/me/token`, { key });
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

  it('fits 1280 px, is usable at 400 px, puts what needs a human first, and shortens long errors', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { config: { refresh: { maxAttempts: 1 } } });
    await h.addConnection('alpha');
    await h.addConnection('zulu-revoked', 'USER02');
    await h.addConnection('mike-failing', 'USER03');
    await h.addConnection(
      'charlie-with-a-rather-long-connection-name-for-the-layout',
      'ACCOUNT-WITH-A-VERY-LONG-IDENTIFIER-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    );
    // Revoked before the daemon starts: its history (seeded from the store) holds only the last good refresh.
    h.seed({ userId: 'USER02' });
    expect((await h.cli(['refresh', 'zulu-revoked', '--force'])).code).toBe(3);
    const longMessage =
      'The token service is temporarily unable to serve refresh requests for this client because the regional cluster is being drained for scheduled maintenance; retry after the window ends.';
    h.sim.inject(
      { kind: 'status', status: 503, body: { errors: [{ errorType: 'system', message: longMessage }] } },
      1000,
    );
    expect((await h.cli(['refresh', 'mike-failing', '--force'])).code).toBe(4);
    const fullError = (await statusJson(h)).find((c) => c.name === 'mike-failing')?.lastError as string;
    expect(fullError.length).toBeGreaterThan(200);
    const daemon = await startDaemon(h);
    onTestFinished(() => daemon.stop());

    const browser = await launchChromium(onTestFinished);
    const page = await browser.newPage();
    const artifacts = join(repoRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${daemon.url}/`);
    const names = await page
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-connection')));
    expect(names).toEqual([
      'zulu-revoked',
      'mike-failing',
      'alpha',
      'charlie-with-a-rather-long-connection-name-for-the-layout',
    ]);
    const scrollWidth = () => page.locator('html').evaluate((html) => html.scrollWidth);
    expect(await scrollWidth()).toBeLessThanOrEqual(1280);

    // The needs-reauth row's newest history bar is a stop (dark red), never the green of its last refresh.
    const revoked = page.locator('tr[data-connection="zulu-revoked"]');
    const lastBar = (row: typeof revoked) =>
      row
        .locator('svg.chart rect:not(.slot)')
        .last()
        .evaluate((bar) => ({
          kind: bar.getAttribute('class'),
          fill: bar.ownerDocument.defaultView?.getComputedStyle(bar).fill,
        }));
    expect(await lastBar(revoked)).toEqual({ kind: 'stop', fill: 'rgb(130, 7, 30)' });
    const failing = page.locator('tr[data-connection="mike-failing"]');
    expect(await lastBar(failing)).toEqual({ kind: 'fail', fill: 'rgb(250, 69, 73)' });
    expect(await lastBar(page.locator('tr[data-connection="alpha"]'))).toEqual({
      kind: 'ok',
      fill: 'rgb(45, 164, 78)',
    });

    // A long error ends in "…"; the full text is one click away, without script.
    const summary = failing.locator('.last-error summary');
    const preview = (await summary.locator('.preview').textContent()) as string;
    expect(preview.endsWith('…')).toBe(true);
    expect(fullError.startsWith(preview.slice(0, -1))).toBe(true);
    expect(await failing.locator('.full-error').isVisible()).toBe(false);
    await summary.click();
    expect(await failing.locator('.full-error').isVisible()).toBe(true);
    expect(await failing.locator('.full-error').textContent()).toBe(fullError);
    expect(await scrollWidth()).toBeLessThanOrEqual(1280);
    await page.screenshot({ path: join(artifacts, 'status-page-1280.png'), fullPage: true });
    // The page refreshes its rows every 10 s; an error the reader opened stays open.
    const renderedAt = await page.locator('#content').getAttribute('data-rendered-at');
    await expect
      .poll(() => page.locator('#content').getAttribute('data-rendered-at'), { timeout: 15_000 })
      .not.toBe(renderedAt);
    expect(await failing.locator('.full-error').isVisible()).toBe(true);

    // 400 px: rows become cards; nothing scrolls sideways and every action is on screen.
    await page.setViewportSize({ width: 400, height: 800 });
    await page.goto(`${daemon.url}/`);
    expect(await scrollWidth()).toBeLessThanOrEqual(400);
    for (const row of await page.locator('tbody tr').all()) {
      const box = await row.boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 400).toBe(true);
      const link = await row.locator('a.reconnect').boundingBox();
      expect(link && link.x >= 0 && link.x + link.width <= 400).toBe(true);
    }
    expect(await page.locator('thead').isVisible()).toBe(false);
    expect(
      await revoked
        .locator('td[data-label="Health"]')
        .evaluate((td) => td.ownerDocument.defaultView?.getComputedStyle(td, '::before').content),
    ).toBe('"Health"');
    await page.screenshot({ path: join(artifacts, 'status-page-400.png'), fullPage: true });
  });
});
