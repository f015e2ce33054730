/**
 * Where people look for a refresh token that dies: the daemon's real server (fastify inject, no socket) on a
 * keeper with a fixed clock shows it on the status page (badge, successor note, amber history bar), in /metrics
 * (seconds left, how many expire soon) and in the API (fields the OpenAPI document describes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiKeyStore, apiKeyStorePath } from '../../src/api-keys/api-key-store.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { Clock } from '../../src/core/types.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { buildServer } from '../../src/server/app.ts';
import { RefreshHistory } from '../../src/server/history.ts';
import { DaemonMetrics } from '../../src/server/metrics.ts';
import { openApiDocument } from '../../src/server/openapi.ts';
import { pageAccessFor } from '../../src/server/operator-auth.ts';
import { ReconnectFlows } from '../../src/server/reconnect.ts';
import { providerConfig, type OnFinished } from '../cli/harness.ts';
import { startSimulatedFitbit } from '../fakes/index.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HOST = '127.0.0.1:8977';

interface Served {
  app: FastifyInstance;
  keeper: Keeper;
  history: RefreshHistory;
  apiKeys: ApiKeyStore;
  now: number;
}

/**
 * Four fitbit connections at the keeper's time `now`: `soon` (its refresh token dies in 2 days, inside the
 * default window of 7 days), `far` (90 days), `timeless` (no expiry by time) and `old` (its provider retired).
 */
async function served(
  onFinished: OnFinished,
  fitbitSettings: { clientSecretExpiresInMs?: number } = {},
): Promise<Served> {
  const sim = await startSimulatedFitbit({ userId: 'USER01' });
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-expiry-surfaces-'));
  const now = Math.floor(Date.now() / 1000) * 1000;
  const clock: Clock = { now: () => now };
  const secretDies = fitbitSettings.clientSecretExpiresInMs;
  const keeper = await createKeeper({
    config: {
      providers: {
        fitbit: {
          ...providerConfig(sim),
          ...(secretDies !== undefined && {
            clientSecretExpiresAt: new Date(now + secretDies).toISOString(),
          }),
        },
      },
    },
    env: { TOKENKEEPER_HOME: home, FITBIT_SECRET: sim.clientSecret },
    clock,
  });
  const add = async (name: string, userId: string, refreshTokenExpiresAt?: number) => {
    const seed = sim.seedGrant({ userId });
    await keeper.addConnection({
      name,
      provider: 'fitbit',
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      tokens: {
        accessToken: seed.accessToken,
        refreshToken: seed.refreshToken,
        expiresAt: now + 8 * HOUR,
        obtainedAt: now - 10 * DAY,
        providerUserId: userId,
        ...(refreshTokenExpiresAt !== undefined && { refreshTokenExpiresAt }),
      },
    });
  };
  await add('soon', 'USER01', now + 2 * DAY);
  await add('far', 'USER02', now + 90 * DAY);
  await add('timeless', 'USER03');
  await add('old', 'USER04');
  sim.setRetired(true);
  await expect(keeper.refresh('old', { force: true })).rejects.toMatchObject({ code: 'provider_retired' });

  const apiKeys = ApiKeyStore.open(apiKeyStorePath(home));
  const history = new RefreshHistory({ now: clock.now });
  const reconnects = new ReconnectFlows(keeper, silentLogger, undefined, () => undefined);
  const app = await buildServer({
    keeper,
    apiKeys,
    metrics: new DaemonMetrics(keeper),
    history,
    reconnects,
    logger: silentLogger,
    pageAccess: pageAccessFor(true, false),
    loopbackHostsOnly: true,
  });
  onFinished(async () => {
    await reconnects.cancel();
    await app.close();
    apiKeys.close();
    await keeper.close();
    await sim.close();
    rmSync(home, { recursive: true, force: true });
  });
  return { app, keeper, history, apiKeys, now };
}

/** The HTML of one connection's row of the status page. */
function rowHtml(page: string, name: string): string {
  const row = new RegExp(`<tr data-connection="${name}"[\\s\\S]*?</tr>`).exec(page)?.[0];
  if (!row) throw new Error(`no row for ${name}`);
  return row;
}

/** The value of one Prometheus sample, e.g. sample(text, 'x_total{a="b"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface JsonSchema {
  type?: string | readonly string[];
  required?: readonly string[];
  properties?: Record<string, JsonSchema>;
}

const jsonType = (value: unknown) =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : Number.isInteger(value)
        ? 'integer'
        : typeof value;

/**
 * Where `value` departs from an object schema of the OpenAPI document: a missing required field, a field the
 * schema does not describe (so an undocumented field fails too), or a value of another type.
 */
function schemaMismatches(value: Record<string, unknown>, schema: JsonSchema): string[] {
  const properties = schema.properties ?? {};
  const missing = (schema.required ?? []).filter((key) => !(key in value)).map((key) => `missing ${key}`);
  const wrong = Object.entries(value).flatMap(([key, field]) => {
    const property = properties[key];
    if (!property) return [`undocumented ${key}`];
    const types = [property.type ?? []].flat();
    const type = jsonType(field);
    const fits = types.includes(type) || (type === 'integer' && types.includes('number'));
    return fits ? [] : [`${key}: ${type}, documented ${types.join('|')}`];
  });
  return [...missing, ...wrong];
}

describe.concurrent('refresh-token expiry on the daemon surfaces', () => {
  it('status page: an "expiring soon" badge and the time left, nothing when unknown, the successor of a retired provider, one amber bar per warning', async ({
    onTestFinished,
  }) => {
    const d = await served(onTestFinished);
    const warning = {
      type: 'expiring_soon',
      name: 'soon',
      provider: 'fitbit',
      eventId: 'evt_soon',
      expiresAt: d.now + 2 * DAY,
      what: 'refresh_token',
    } as const;
    d.history.handle(warning);
    d.history.handle(warning); // noticed again by another pass: still one warning in the strip

    const response = await d.app.inject({ url: '/', headers: { host: HOST } });
    expect(response.statusCode).toBe(200);
    const page = response.body;

    const soon = rowHtml(page, 'soon');
    expect(soon).toContain(
      '<td class="health" data-label="Health"><span class="badge soon">expiring soon</span>',
    );
    expect(soon).toMatch(
      /<div class="rt-expiry">refresh token <span class="badge soon" title="[^"]+">expires in 2d 0h<\/span><\/div>/,
    );
    expect(soon.match(/<rect class="soon"/g)).toHaveLength(1);
    expect(soon).toMatch(/<title>[^<]*expiring soon: the refresh token dies [^<]*<\/title>/);
    expect(soon).toContain('aria-label="last 1 events: 0 refreshes, 0 failures, 1 warning"');

    const far = rowHtml(page, 'far');
    expect(far).toContain('<span class="badge ok">healthy</span>');
    expect(far).toMatch(
      /<div class="rt-expiry">refresh token <span title="[^"]+">expires in 90d 0h<\/span><\/div>/,
    );
    expect(rowHtml(page, 'timeless')).not.toContain('refresh token');
    const old = rowHtml(page, 'old');
    expect(old).toContain('<span class="badge bad">provider retired</span>');
    expect(old).toContain(
      '<div class="successor">replaced by google-health: <code>tokenkeeper connect google-health --replace old</code></div>',
    );
    expect(rowHtml(page, 'far')).not.toContain('successor');

    // What needs a human first, then what expires soon, then the rest.
    expect([...page.matchAll(/<tr data-connection="([^"]+)"/g)].map((match) => match[1])).toEqual([
      'old',
      'soon',
      'far',
      'timeless',
    ]);
    expect(page).toContain(
      '<span class="summary" id="summary">4 connections · 2 healthy · 1 expiring soon · 1 needs a human</span>',
    );
  });

  it("metrics: seconds until each known refresh-token expiry at the keeper's time, and how many expire soon", async ({
    onTestFinished,
  }) => {
    const d = await served(onTestFinished);
    const response = await d.app.inject({ url: '/metrics', headers: { host: HOST } });
    expect(response.statusCode).toBe(200);
    const text = response.body;
    const series = (name: string) =>
      `tokenkeeper_refresh_token_expiry_seconds{connection="${name}",provider="fitbit"}`;
    expect(sample(text, series('soon'))).toBe(2 * 86_400);
    expect(sample(text, series('far'))).toBe(90 * 86_400);
    expect(sample(text, series('timeless'))).toBeUndefined();
    expect(sample(text, series('old'))).toBeUndefined();
    expect(sample(text, 'tokenkeeper_connections_expiring_soon')).toBe(1);
    expect(text).toMatch(/^# TYPE tokenkeeper_refresh_token_expiry_seconds gauge$/m);
    // The access-token gauge reads the same store read, at the same time.
    expect(sample(text, 'tokenkeeper_token_expiry_seconds{connection="soon",provider="fitbit"}')).toBe(
      8 * 3600,
    );
  });

  it('API: each connection carries refreshTokenExpiresAt, expiringSoon and successor, as the OpenAPI document describes', async ({
    onTestFinished,
  }) => {
    const d = await served(onTestFinished);
    const { key } = d.apiKeys.create({ scopes: ['*'] });
    const get = async (url: string) => {
      const response = await d.app.inject({ url, headers: { host: HOST, authorization: `Bearer ${key}` } });
      expect(response.statusCode, url).toBe(200);
      return response.json<Record<string, unknown>>();
    };
    const schema = openApiDocument.components.schemas.Connection as unknown as JsonSchema;

    const { connections } = (await get('/v1/connections')) as { connections: Array<Record<string, unknown>> };
    expect(connections).toHaveLength(4);
    for (const connection of connections) {
      expect(schemaMismatches(connection, schema), String(connection.name)).toEqual([]);
    }
    const byName = new Map(connections.map((c) => [c.name, c]));
    expect(byName.get('soon')).toMatchObject({
      refreshTokenExpiresAt: new Date(d.now + 2 * DAY).toISOString(),
      expiringSoon: true,
      successor: null,
    });
    expect(byName.get('soon')?.expiring).toEqual({
      what: 'refresh_token',
      at: new Date(d.now + 2 * DAY).toISOString(),
    });
    expect(byName.get('timeless')).toMatchObject({
      refreshTokenExpiresAt: null,
      expiringSoon: false,
      expiring: null,
    });
    expect(byName.get('old')).toMatchObject({ status: 'provider_retired', successor: 'google-health' });

    const one = await get('/v1/connections/soon');
    expect(schemaMismatches(one, schema)).toEqual([]);
    expect(one).toEqual(byName.get('soon'));
    // The checker itself refuses what the document does not describe.
    expect(schemaMismatches({ ...one, expiringSoon: 'yes', extra: 1 }, schema)).toEqual([
      'expiringSoon: string, documented boolean',
      'undocumented extra',
    ]);
  });

  it('a client secret that expires first is what the API names and the page advises to rotate', async ({
    onTestFinished,
  }) => {
    const d = await served(onTestFinished, { clientSecretExpiresInMs: 3 * DAY });
    const secretDies = new Date(d.now + 3 * DAY).toISOString();
    const { key } = d.apiKeys.create({ scopes: ['*'] });
    const response = await d.app.inject({
      url: '/v1/connections',
      headers: { host: HOST, authorization: `Bearer ${key}` },
    });
    const { connections } = response.json<{ connections: Array<Record<string, unknown>> }>();
    const schema = openApiDocument.components.schemas.Connection as unknown as JsonSchema;
    for (const connection of connections) expect(schemaMismatches(connection, schema)).toEqual([]);
    const byName = new Map(connections.map((c) => [c.name, c]));
    // The refresh token of `soon` dies first (2 days); every other working connection waits on the secret.
    expect(byName.get('soon')?.expiring).toEqual({
      what: 'refresh_token',
      at: new Date(d.now + 2 * DAY).toISOString(),
    });
    expect(byName.get('far')).toMatchObject({
      expiringSoon: true,
      expiring: { what: 'client_secret', at: secretDies },
    });

    const page = (await d.app.inject({ url: '/', headers: { host: HOST } })).body;
    const far = rowHtml(page, 'far');
    expect(far).toContain('<span class="badge soon">expiring soon</span>');
    // The refresh token is not blamed: its expiry is plain text, the secret carries the badge and the advice.
    expect(far).toMatch(
      /<div class="rt-expiry">refresh token <span title="[^"]+">expires in 90d 0h<\/span><\/div>/,
    );
    expect(far).toMatch(
      /<div class="secret-expiry">client secret <span class="badge soon" title="[^"]+">expires in 3d 0h<\/span>: rotate the client secret in the provider&#39;s console and update providers\.fitbit\.clientSecret \/ clientSecretExpiresAt<\/div>/,
    );
    expect(rowHtml(page, 'soon')).not.toContain('secret-expiry');
  });
});
