import { describe, expect, it } from 'vitest';
import { createHarness, freePort, statusJson, type OnFinished } from '../cli/harness.ts';
import { openDaemonKeeper } from './in-process.ts';
import { consentUrlOf, operatorLogin } from './operator.ts';

type Profile = { user: { encodedId: string } };

/**
 * Plays the attacker's part once a consent URL is in hand: approves with the provider (as whoever the simulator
 * signs in) and delivers the redirect to the daemon's callback port. Returns whether a callback was delivered.
 */
async function approveAndDeliver(body: string, location: string | null): Promise<boolean> {
  const consent = consentUrlOf(body) ?? (location?.startsWith('http') ? location : undefined);
  if (!consent) return false;
  const approved = await fetch(consent, { redirect: 'manual' });
  const callback = approved.headers.get('location');
  if (!callback) return false;
  await fetch(callback).catch(() => undefined);
  return true;
}

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

/** A daemon serving connection "me" (USER01; single-use refresh tokens, no grace) and an API key for it. */
async function daemonWithConnection(onTestFinished: OnFinished) {
  const h = await createHarness(onTestFinished, {
    sim: { graceMs: 0 },
    config: { connect: { port: await freePort() } },
  });
  const d = await openDaemonKeeper(h, onTestFinished);
  await d.addConnection('me');
  const key = d.createApiKey(['me']);
  return { h, key, daemon: await d.startDaemon() };
}

describe('the status page is an admin surface', () => {
  it('refuses every reconnect without an operator session and CSRF token: a foreign account never replaces the tokens', async ({
    onTestFinished,
  }) => {
    const { h, key, daemon } = await daemonWithConnection(onTestFinished);
    const victimRefreshToken = h.sim.activeRefreshToken('USER01');
    const before = await statusJson(h);
    const reconnect = `${daemon.url}/connections/me/reconnect`;

    // The attacker signs in to the provider as someone else.
    h.sim.setConsentUser('ATTACKER');
    const attempts: Array<[string, RequestInit]> = [
      ['GET without any header (curl, a local process)', {}],
      ['GET claiming to be typed in', { headers: { 'sec-fetch-site': 'none' } }],
      ['GET claiming same-origin', { headers: { 'sec-fetch-site': 'same-origin' } }],
      ['POST without a session', form({})],
      [
        'POST with a forged session',
        { ...form({ csrf: 'x' }), headers: { ...form({}).headers, cookie: 'tokenkeeper_session=forged' } },
      ],
      ['POST cross-site', { ...form({}), headers: { ...form({}).headers, 'sec-fetch-site': 'cross-site' } }],
    ];
    const answers: Array<{ what: string; status: number; delivered: boolean; body: string }> = [];
    for (const [what, init] of attempts) {
      const answer = await daemon.fetch(reconnect, { ...init, redirect: 'manual' });
      const body = await answer.text();
      const delivered = await approveAndDeliver(body, answer.headers.get('location'));
      answers.push({ what, status: answer.status, delivered, body });
    }
    if (answers.some((a) => a.delivered)) {
      // Give a delivered callback time to finish the exchange (what today's code would do with it).
      await expect.poll(async () => (await statusJson(h))[0]?.account, { timeout: 5_000 }).not.toBe('USER01');
    }
    // First what matters most: the connection still serves the victim's account with the victim's grant.
    expect((await statusJson(h))[0]?.account).toBe('USER01');
    expect(h.sim.activeRefreshToken('ATTACKER')).toBeUndefined();
    for (const { what, status, delivered, body } of answers) {
      expect(delivered, `${what}: got a consent URL`).toBe(false);
      expect([401, 403, 405], what).toContain(status);
      expect(body, what).not.toMatch(/state=/);
    }
    // Cancelling is an action too.
    expect((await daemon.fetch(`${reconnect}/cancel`, { ...form({}), redirect: 'manual' })).status).toBe(401);

    // A logged-in operator's session is not enough without the page's CSRF token (another site's form has none).
    const { cookie } = await operatorLogin(h, daemon);
    for (const csrf of [undefined, 'wrong']) {
      const answer = await daemon.fetch(reconnect, {
        ...form(csrf === undefined ? {} : { csrf }),
        headers: { ...form({}).headers, cookie },
        redirect: 'manual',
      });
      expect(answer.status, `csrf ${csrf}`).toBe(403);
      expect(await approveAndDeliver(await answer.text(), answer.headers.get('location'))).toBe(false);
    }

    // Nothing changed: same state, the victim's refresh token still stored (it refreshes, single-use, no grace),
    // and the connection serves the victim's account.
    expect(await statusJson(h)).toEqual(before);
    expect(h.sim.activeRefreshToken('USER01')).toBe(victimRefreshToken);
    expect(h.sim.activeRefreshToken('ATTACKER')).toBeUndefined();
    expect(
      (await daemon.api(`${daemon.url}/v1/connections/me/refresh`, { key, method: 'POST' })).status,
    ).toBe(200);
    const token = await daemon.api<{ accessToken: string }>(`${daemon.url}/v1/connections/me/token`, {
      key,
    });
    const profile = await fetch(h.sim.profileUrl, {
      headers: { authorization: `Bearer ${token.body.accessToken}` },
    });
    expect(((await profile.json()) as Profile).user.encodedId).toBe('USER01');
    await daemon.stop();
    h.snapshotSecrets();
    // Every output but those whose job is to print a credential (api-key create, login).
    const output = [
      ...h.results
        .filter((r) => !r.args.includes('api-key') && !r.args.includes('login'))
        .map((r) => r.stdout + r.stderr),
      daemon.output(),
    ].join('\n');
    for (const secret of h.secrets) expect(output).not.toContain(secret);
  });

  it('an operator reconnect that lands on a different account leaves the connection exactly as it was', async ({
    onTestFinished,
  }) => {
    const { h, key, daemon } = await daemonWithConnection(onTestFinished);
    const { cookie, csrf } = await operatorLogin(h, daemon);
    const before = await statusJson(h);
    const victimRefreshToken = h.sim.activeRefreshToken('USER01');

    h.sim.setConsentUser('USER99');
    const start = await daemon.fetch(`${daemon.url}/connections/me/reconnect`, {
      ...form({ csrf }),
      headers: { ...form({}).headers, cookie, 'sec-fetch-site': 'same-origin' },
      redirect: 'manual',
    });
    expect(start.status).toBe(200);
    const startBody = await start.text();
    expect(consentUrlOf(startBody)).toMatch(new RegExp(`^${h.sim.authorizeUrl}\\?`));
    expect(await approveAndDeliver(startBody, null)).toBe(true);
    await daemon.waitForOutput(/"msg":"reconnect did not complete"[^\n]*/, 10_000);
    expect(daemon.output()).toMatch(/account USER01, but the consent was given for account USER99/);

    expect(await statusJson(h)).toEqual(before);
    expect(h.sim.activeRefreshToken('USER01')).toBe(victimRefreshToken);
    expect(
      (await daemon.api(`${daemon.url}/v1/connections/me/refresh`, { key, method: 'POST' })).status,
    ).toBe(200);

    // The same operator reconnecting with the right account works.
    h.sim.setConsentUser('USER01');
    const again = await daemon.fetch(`${daemon.url}/connections/me/reconnect`, {
      ...form({ csrf }),
      headers: { ...form({}).headers, cookie },
      redirect: 'manual',
    });
    expect(await approveAndDeliver(await again.text(), null)).toBe(true);
    await daemon.waitForOutput(/"msg":"reconnected from the status page"/, 10_000);
    await daemon.stop();
  });
});
