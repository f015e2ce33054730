/**
 * Issue 12's first "must show", through the real CLI and daemon: a provider that says when its refresh tokens
 * die (`refresh_token_expires_in`) → `status --json` shows the expiry and exits 6 inside the warning window, and the
 * daemon sends exactly one `expiring_soon` webhook for that window — across ticks and a restart — which the
 * maintained `standardwebhooks` package verifies. (A refresh token that the next planned refresh renews is not at
 * risk while a daemon runs, so this one dies before that refresh: Fitbit's access tokens live 8 hours.)
 */
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';
import { createHarness, expectSuccess, statusJson } from '../cli/harness.ts';
import { startDaemon, startReceiver } from '../server/daemon.ts';
import { verifiedJson } from '../support/standard-webhooks.ts';

const HOUR = 3_600_000;
/** Refresh tokens that live 2 hours, under a configured 1-day window: inside it from the moment they are issued. */
const REFRESH_TOKEN_SECONDS = 2 * 3600;

describe('a refresh token that the provider says will die soon', () => {
  it('shows in status and reaches a Standard Webhooks receiver once per window', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const secret = generateWebhookSecret();
    const h = await createHarness(onTestFinished, {
      sim: { refreshTokenExpiresInSeconds: REFRESH_TOKEN_SECONDS },
      config: {
        refresh: { expiringSoonDays: 1 },
        webhooks: {
          endpoints: [{ url: receiver.url, secret: 'env:HOOK_SECRET', events: ['expiring_soon'] }],
        },
      },
    });
    h.env.HOOK_SECRET = secret;
    h.secrets.add(secret);
    await h.addConnection('fitbit-me');
    const refreshedAt = Date.now();
    expectSuccess(await h.cli(['refresh', 'fitbit-me', '--force']));

    const status = await h.cli(['status', '--json']);
    expect(status.code).toBe(6);
    const [shown] = JSON.parse(status.stdout) as Array<{
      refreshTokenExpiresAt: string;
      expiringSoon: boolean;
      expiring: { what: string; at: string } | null;
    }>;
    expect(shown?.expiringSoon).toBe(true);
    expect(shown?.expiring).toEqual({ what: 'refresh_token', at: shown?.refreshTokenExpiresAt });
    const expiresAt = Date.parse(shown?.refreshTokenExpiresAt ?? '');
    expect(expiresAt).toBeGreaterThanOrEqual(refreshedAt + REFRESH_TOKEN_SECONDS * 1000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + REFRESH_TOKEN_SECONDS * 1000 + 1000);
    expect((await h.cli(['status'])).code).toBe(6);

    const first = await startDaemon(h);
    const hook = await receiver.waitFor((received) => received.json.type === 'expiring_soon');
    expect(verifiedJson(secret, hook)).toMatchObject({
      type: 'expiring_soon',
      connection: { name: 'fitbit-me', provider: 'fitbit' },
      expiring: { what: 'refresh_token', at: new Date(expiresAt).toISOString() },
    });
    // The daemon looks again on every tick (at most a minute apart; a second here) and after a restart.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await first.stop();
    const second = await startDaemon(h);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await second.stop();
    expect(receiver.attempts.map((attempt) => attempt.json.type)).toEqual(['expiring_soon']);
    expect(receiver.attempts[0]?.headers['webhook-id']).toBe(hook.headers['webhook-id']);
    // Still inside the window, with no new refresh token: status keeps saying so.
    expect((await statusJson(h))[0]).toMatchObject({ expiringSoon: true });
    expect(Date.now() - refreshedAt).toBeLessThan(REFRESH_TOKEN_SECONDS * 1000 - HOUR);
    expect((await h.cli(['status'])).stdout).toMatch(/fitbit-me: the refresh token expires in .*; reconnect/);
  }, 90_000);
});
