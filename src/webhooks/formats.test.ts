import { describe, expect, it } from 'vitest';
import type { WebhookEndpoint } from './endpoints.ts';
import type { WebhookPayload } from './events.ts';
import { humanMessage, renderDelivery } from './formats.ts';

const NOW = Date.UTC(2026, 11, 3, 10, 0, 0);
const PUBLIC_URL = 'https://keeper.example.com';

function payload(content: Omit<WebhookPayload, 'id' | 'createdAt'>): WebhookPayload {
  return { id: 'evt_1', createdAt: new Date(NOW).toISOString(), ...content };
}

const needsReauth = payload({
  type: 'needs_reauth',
  connection: { name: 'fitbit-me', provider: 'fitbit' },
  status: 'needs_reauth',
  previousStatus: 'active',
  error: 'fitbit token endpoint rejected the refresh token (invalid_grant)',
});
const retired = payload({
  type: 'provider_retired',
  connection: { name: 'fitbit-me', provider: 'fitbit' },
  status: 'provider_retired',
  successor: 'google-health',
});
const expiring = payload({
  type: 'expiring_soon',
  connection: { name: 'google-me', provider: 'google-health' },
  expiring: { what: 'refresh_token', at: new Date(NOW + 24 * 3_600_000).toISOString() },
});
const clientSecretExpiring = payload({
  type: 'expiring_soon',
  connection: { name: 'google-me', provider: 'google-health' },
  expiring: { what: 'client_secret', at: new Date(NOW + 3 * 24 * 3_600_000).toISOString() },
});
const replaced = payload({
  type: 'replaced',
  connection: { name: 'fitbit-me', provider: 'google-health' },
  replaced: { previousProvider: 'fitbit', revoked: true },
});
const recovered = payload({
  type: 'recovered',
  connection: { name: 'fitbit-me', provider: 'fitbit' },
  reason: 'reconnected',
});
const failed = payload({
  type: 'refresh_failed',
  connection: { name: 'google-me', provider: 'google-health' },
  error: 'HTTP 503 <html>&',
  attempt: 2,
  retryInSeconds: 30,
});

const text = (p: WebhookPayload, publicUrl?: string) => humanMessage(p, publicUrl, NOW).text;
const endpoint = (format: WebhookEndpoint['format'], publicUrl?: string) => ({
  format,
  ...(publicUrl !== undefined && { publicUrl }),
});

describe('human messages', () => {
  it('say in one line what happened and how to fix it, with the reconnect link when there is a public URL', () => {
    expect(text(needsReauth, PUBLIC_URL)).toBe(
      'fitbit-me (fitbit) needs you to reconnect: https://keeper.example.com/connections/fitbit-me/reconnect',
    );
    expect(text(needsReauth)).toBe(
      'fitbit-me (fitbit) needs you to reconnect: tokenkeeper connect fitbit --name fitbit-me',
    );
    expect(text(retired)).toBe(
      'fitbit-me: fitbit has shut down its API; connect it again with google-health: tokenkeeper connect google-health --replace fitbit-me',
    );
    expect(text(retired, PUBLIC_URL)).toMatch(
      /; status page: https:\/\/keeper\.example\.com\/connections\/fitbit-me\/reconnect$/,
    );
    expect(text(expiring, PUBLIC_URL)).toBe(
      'google-me: refresh token expires in 1 day (2026-12-04 10:00 UTC); reconnect: https://keeper.example.com/connections/google-me/reconnect',
    );
    expect(text(clientSecretExpiring, PUBLIC_URL)).toBe(
      "google-me: the client secret of google-health expires in 3 days (2026-12-06 10:00 UTC); create a new one in the provider's console and update providers.google-health.clientSecret",
    );
    expect(text(replaced, PUBLIC_URL)).toBe('fitbit-me was moved to google-health (from fitbit)');
    expect(text(recovered, PUBLIC_URL)).toBe('fitbit-me (fitbit) works again: it was reconnected');
    expect(text(failed, PUBLIC_URL)).toBe(
      'google-me (google-health): refresh failed (attempt 2, retry in 30 s): HTTP 503 <html>&',
    );
  });

  it('count down to the expiry from the time of the attempt', () => {
    const at = (ms: number) => humanMessage(expiring, undefined, NOW + ms).text;
    expect(at(19 * 3_600_000)).toMatch(/expires in 5 hours \(2026-12-04 10:00 UTC\)/);
    expect(at(24 * 3_600_000 - 60_000)).toMatch(/expires in 1 minute /);
    expect(at(25 * 3_600_000)).toMatch(/expires now /);
  });

  it('ask for a person (high priority) only when one must act', () => {
    const priority = (p: WebhookPayload) => humanMessage(p, undefined, NOW).priority;
    expect([needsReauth, retired, expiring, clientSecretExpiring].map(priority)).toEqual([
      'high',
      'high',
      'high',
      'high',
    ]);
    expect([replaced, recovered, failed].map(priority)).toEqual(['default', 'default', 'low']);
  });
});

describe('formats', () => {
  it('standard: the payload as JSON, with links.reconnect only for what a reconnect fixes and only with a public URL', () => {
    const body = (p: WebhookPayload, publicUrl?: string) =>
      JSON.parse(renderDelivery(endpoint('standard', publicUrl), p, NOW).body) as WebhookPayload;
    expect(renderDelivery(endpoint(undefined), needsReauth, NOW)).toEqual({
      contentType: 'application/json',
      body: JSON.stringify(needsReauth),
      headers: {},
    });
    expect(body(needsReauth, PUBLIC_URL)).toEqual({
      ...needsReauth,
      links: { reconnect: 'https://keeper.example.com/connections/fitbit-me/reconnect' },
    });
    expect(body(retired, `${PUBLIC_URL}/base/`).links).toEqual({
      reconnect: 'https://keeper.example.com/base/connections/fitbit-me/reconnect',
    });
    expect(body(expiring, PUBLIC_URL).links?.reconnect).toBeDefined();
    for (const p of [clientSecretExpiring, replaced, recovered, failed]) {
      expect(body(p, PUBLIC_URL).links, p.type).toBeUndefined();
    }
  });

  it('slack: {text}, with Slack markup characters escaped', () => {
    const slack = renderDelivery(endpoint('slack', PUBLIC_URL), needsReauth, NOW);
    expect(slack.contentType).toBe('application/json');
    expect(JSON.parse(slack.body)).toEqual({
      text: 'fitbit-me (fitbit) needs you to reconnect: https://keeper.example.com/connections/fitbit-me/reconnect',
    });
    expect(JSON.parse(renderDelivery(endpoint('slack'), failed, NOW).body)).toEqual({
      text: 'google-me (google-health): refresh failed (attempt 2, retry in 30 s): HTTP 503 &lt;html&gt;&amp;',
    });
  });

  it('discord: {content} that can mention nobody', () => {
    const discord = renderDelivery(endpoint('discord'), replaced, NOW);
    expect(discord.contentType).toBe('application/json');
    expect(JSON.parse(discord.body)).toEqual({
      content: 'fitbit-me was moved to google-health (from fitbit)',
      allowed_mentions: { parse: [] },
    });
    const long = payload({ ...failed, error: 'x'.repeat(5000) });
    expect(
      (JSON.parse(renderDelivery(endpoint('discord'), long, NOW).body) as { content: string }).content.length,
    ).toBeLessThan(400);
  });

  it('ntfy: the message as text/plain, with title, priority, tags, and the link to click when there is one', () => {
    expect(renderDelivery(endpoint('ntfy', PUBLIC_URL), needsReauth, NOW)).toEqual({
      contentType: 'text/plain; charset=utf-8',
      body: 'fitbit-me (fitbit) needs you to reconnect: https://keeper.example.com/connections/fitbit-me/reconnect',
      headers: {
        title: 'fitbit-me needs you to reconnect',
        priority: 'high',
        tags: 'warning,needs_reauth',
        click: 'https://keeper.example.com/connections/fitbit-me/reconnect',
      },
    });
    expect(renderDelivery(endpoint('ntfy'), needsReauth, NOW).headers.click).toBeUndefined();
    expect(renderDelivery(endpoint('ntfy', PUBLIC_URL), recovered, NOW).headers).toEqual({
      title: 'fitbit-me works again',
      priority: 'default',
      tags: 'white_check_mark,recovered',
    });
  });

  it('every format renders every event type', () => {
    const all = [needsReauth, retired, expiring, clientSecretExpiring, replaced, recovered, failed];
    all.push(payload({ type: 'test', connection: { name: 'example', provider: 'example' } }));
    for (const format of ['standard', 'slack', 'discord', 'ntfy'] as const) {
      for (const p of all) {
        const rendered = renderDelivery(endpoint(format, PUBLIC_URL), p, NOW);
        expect(rendered.body.length, `${format} ${p.type}`).toBeGreaterThan(10);
        // Header values must be plain ASCII for fetch to send them.
        for (const value of Object.values(rendered.headers)) expect(value).toMatch(/^[\x20-\x7e]*$/);
      }
    }
  });
});
