import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHarness } from '../cli/harness.ts';
import { startReceiver } from './daemon.ts';
import { openDaemonKeeper } from './in-process.ts';

/** The value of one Prometheus sample, e.g. sample(text, 'x_total{a="b"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.concurrent('metrics', () => {
  it('count refreshes by outcome, lock waits and requests, and gauge expiry and status per connection', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { sim: { graceMs: 0 } });
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    await d.addConnection('dead', 'USER02');
    const key = d.createApiKey(['*']);
    const daemon = await d.startDaemon();
    const { api } = daemon;

    h.sim.inject({ kind: 'status', status: 503 });
    expect((await api(`${daemon.url}/v1/connections/me/refresh`, { key, method: 'POST' })).status).toBe(200);
    expect((await api(`${daemon.url}/v1/connections/me/token`, { key })).status).toBe(200);
    h.seed({ userId: 'USER02' });
    expect((await api(`${daemon.url}/v1/connections/dead/refresh`, { key, method: 'POST' })).status).toBe(
      409,
    );

    const metrics = await api(`${daemon.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = metrics.text;
    expect(sample(text, 'tokenkeeper_refreshes_total{provider="fitbit",outcome="success"}')).toBe(1);
    expect(sample(text, 'tokenkeeper_refreshes_total{provider="fitbit",outcome="failed"}')).toBe(1);
    expect(sample(text, 'tokenkeeper_refreshes_total{provider="fitbit",outcome="needs_reauth"}')).toBe(1);
    expect(sample(text, 'tokenkeeper_lock_wait_seconds_count{provider="fitbit"}')).toBe(2);
    const expiry = sample(
      text,
      'tokenkeeper_token_expiry_seconds{connection="me",provider="fitbit"}',
    ) as number;
    expect(expiry).toBeGreaterThan(28_000);
    expect(expiry).toBeLessThanOrEqual(28_800);
    expect(
      sample(
        text,
        'tokenkeeper_connection_status{connection="dead",provider="fitbit",status="needs_reauth"}',
      ),
    ).toBe(1);
    expect(
      sample(text, 'tokenkeeper_connection_status{connection="dead",provider="fitbit",status="active"}'),
    ).toBe(0);
    expect(
      sample(text, 'tokenkeeper_connection_status{connection="me",provider="fitbit",status="active"}'),
    ).toBe(1);
    expect(
      sample(
        text,
        'tokenkeeper_http_requests_total{route="/v1/connections/:name/token",method="GET",status="200"}',
      ),
    ).toBe(1);
    expect(text).toMatch(/^# TYPE tokenkeeper_store_errors_total counter$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    await daemon.stop();
  });
});

describe.concurrent('secrets stay secret', () => {
  it('never appear in /metrics, the status page, API listings, logs, webhook bodies or the delivery log', async ({
    onTestFinished,
  }) => {
    const receiver = await startReceiver();
    onTestFinished(() => receiver.close());
    const webhookSecret = 'whsec_bmV2ZXItc2hvd24td2ViaG9vay1zZWNyZXQtNGYxYzJkOWU=';
    const h = await createHarness(onTestFinished, {
      // Fitbit echoes tokens in its error messages: a realistic chance for them to leak.
      sim: { graceMs: 0, echoTokenInErrors: true },
      config: { webhooks: { endpoints: [{ url: receiver.url, secret: 'env:WEBHOOK_SECRET' }] } },
    });
    h.env.WEBHOOK_SECRET = webhookSecret;
    const d = await openDaemonKeeper(h, onTestFinished, { logLevel: 'debug' });
    await d.addConnection('me');
    await d.addConnection('dead', 'USER02');
    const key = d.createApiKey(['*']);
    const daemon = await d.startDaemon();
    const { api } = daemon;

    const served: string[] = [];
    const token = await api<{ accessToken: string }>(`${daemon.url}/v1/connections/me/token`, { key });
    served.push(token.body.accessToken);
    h.sim.inject({ kind: 'status', status: 503 });
    await api(`${daemon.url}/v1/connections/me/refresh`, { key, method: 'POST' });
    served.push(
      (await api<{ accessToken: string }>(`${daemon.url}/v1/connections/me/token`, { key })).body.accessToken,
    );
    h.seed({ userId: 'USER02' }); // 'dead' now holds a refresh token the provider rejects, echoing it back
    expect((await api(`${daemon.url}/v1/connections/dead/refresh`, { key, method: 'POST' })).status).toBe(
      409,
    );
    await receiver.waitFor((hook) => hook.json.type === 'needs_reauth');
    await api(`${daemon.url}/v1/connections/me/token`, { headers: { authorization: `Bearer ${key}x` } });

    const shown = {
      metrics: (await api(`${daemon.url}/metrics`)).text,
      statusPage: (await api(`${daemon.url}/`)).text,
      connections: (await api(`${daemon.url}/v1/connections`, { key })).text,
      one: (await api(`${daemon.url}/v1/connections/dead`, { key })).text,
      refreshAnswer: (await api(`${daemon.url}/v1/connections/dead/refresh`, { key, method: 'POST' })).text,
      webhooks: receiver.received.map((hook) => `${JSON.stringify(hook.headers)}\n${hook.body}`).join('\n'),
    };
    await daemon.stop();
    const logs = daemon.output();
    expect(logs).toMatch(/"msg":"http request"/); // debug request logging was on
    const files = Object.fromEntries(
      readdirSync(h.home)
        .filter((name) => /\.jsonl$/.test(name))
        .map((name) => [name, readFileSync(join(h.home, name), 'utf8')]),
    );
    expect(Object.keys(files)).toContain('webhook-deliveries.jsonl');
    expect(shown.statusPage).toContain('invalid_grant'); // the error is shown, scrubbed

    h.snapshotSecrets();
    const secrets = new Set([...h.secrets, ...served, webhookSecret, key, key.slice(-43)]);
    expect(secrets.size).toBeGreaterThanOrEqual(8);
    for (const [where, text] of Object.entries({ ...shown, logs, ...files })) {
      for (const secret of secrets) {
        expect(text.includes(secret), `${where} contains a secret (${secret.slice(0, 4)}…)`).toBe(false);
      }
    }
    // The API key store keeps a hash, not the key.
    const keyStore = readFileSync(join(h.home, 'api-keys.db'));
    expect(keyStore.includes(key.slice(-43))).toBe(false);
  });
});
