/**
 * One row per config key of the schema (src/config/schema.ts, documented in README.md and docs/*.md): each row
 * sets its key to a value other than the default and shows what that value does, through the product — the
 * keeper, a command run in-process as `run(options, io)`, or the real CLI and daemon — never by reading the
 * resolved settings back. A row fails when its key is ignored. The first test keeps the table complete.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addOptions, runAdd } from '../../src/cli/commands/add.ts';
import { connectOptions, runConnect } from '../../src/cli/commands/connect.ts';
import { fetchOptions, runFetch } from '../../src/cli/commands/fetch.ts';
import { runProviders } from '../../src/cli/commands/providers.ts';
import { runWebhookTest, webhookTestOptions } from '../../src/cli/commands/webhook.ts';
import { configSchema, type ConfigFile } from '../../src/config/schema.ts';
import type { KeeperEvent } from '../../src/core/events.ts';
import { loadKeyring } from '../../src/crypto/key-source.ts';
import { AnnouncedNotices } from '../../src/keeper/expiry-notices.ts';
import { createKeeper, type Keeper, type KeeperOptions } from '../../src/keeper/keeper.ts';
import { openStore } from '../../src/stores/open-store.ts';
import { FlakyStore, rejection } from '../engine/setup.ts';
import {
  startSimulatedFitbit,
  startSimulatedGoogle,
  startSimulatedMicrosoft,
  startSimulatedOAuth2,
  type SimulatedFitbit,
  type SimulatedGoogle,
  type SimulatedOAuthProvider,
} from '../fakes/index.ts';
import { approve } from '../cli/consent.ts';
import {
  createHarness,
  expectSuccess,
  freePort,
  lines,
  logRecords,
  providerConfig,
  type Harness,
  type OnFinished,
} from '../cli/harness.ts';
import { captureIo, type CapturedIo } from '../cli/io.ts';
import type { CliProcess } from '../cli/run-cli.ts';
import { api, createApiKey, startDaemon, startReceiver } from '../server/daemon.ts';
import { startAzureWorld, type AzureWorld } from '../azure/harness.ts';
import { verifiedJson } from '../support/standard-webhooks.ts';

const KEY = '0123456789abcdef'.repeat(4);
/** The consent URL `connect` prints on stderr ("Open this URL …:\n\n  <url>\n"). */
const CONSENT_URL = /^ {2}(https?:\/\/\S+)$/m;
/** whsec_ + base64 of 35 bytes. */
const SECRET = 'whsec_dG9rZW5rZWVwZXIta2V5cy10ZXN0LXNlY3JldC0wMDAwMDE=';
const OLD_SECRET = 'whsec_cm90YXRlZC1vdXQtb2xkLXdlYmhvb2stc2VjcmV0LTAwMDAx';

interface Row {
  /** The keys this row sets, named as the schema names them (several only where the schema requires both). */
  keys: string[];
  test(onFinished: OnFinished): Promise<void>;
}

// ---- the keys of the schema ----------------------------------------------------------------------------------

interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  innerType?: { _zod: { def: SchemaDef } };
  element?: { _zod: { def: SchemaDef } };
  valueType?: { _zod: { def: SchemaDef } };
}

/** Every settable leaf of the schema: `refresh.marginSeconds`, `providers.<id>.tokenUrl`, `webhooks.endpoints[].url`. */
function schemaKeys(def: SchemaDef, prefix = ''): string[] {
  const inner = (schema: { _zod: { def: SchemaDef } } | undefined) => schema?._zod.def as SchemaDef;
  switch (def.type) {
    case 'optional':
      return schemaKeys(inner(def.innerType), prefix);
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, value]) =>
        schemaKeys(value._zod.def, prefix ? `${prefix}.${key}` : key),
      );
    case 'record':
      return inner(def.valueType).type === 'object'
        ? schemaKeys(inner(def.valueType), `${prefix}.<id>`)
        : [prefix];
    case 'array':
      return inner(def.element).type === 'object' ? schemaKeys(inner(def.element), `${prefix}[]`) : [prefix];
    default:
      return [prefix];
  }
}

// ---- worlds the rows run in ------------------------------------------------------------------------------------

interface World {
  root: string;
  home: string;
  env: NodeJS.ProcessEnv;
  /** Writes `config` next to the home and returns an io whose --config is that file. */
  io(config: object, options?: { stdin?: string; env?: NodeJS.ProcessEnv }): CapturedIo;
  /** A keeper on the home with this config, closed when the test finishes. */
  keeper(config: ConfigFile, options?: Partial<KeeperOptions>): Promise<Keeper>;
}

function world(onFinished: OnFinished, env: NodeJS.ProcessEnv = {}): World {
  const root = mkdtempSync(join(tmpdir(), 'tokenkeeper-keys-'));
  const home = join(root, 'home');
  mkdirSync(home, { mode: 0o700 });
  onFinished(() => rmSync(root, { recursive: true, force: true }));
  const baseEnv = { TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: KEY, ...env };
  let files = 0;
  return {
    root,
    home,
    env: baseEnv,
    io(config, options = {}) {
      const path = join(root, `config-${++files}.json`);
      writeFileSync(path, JSON.stringify(config));
      return captureIo({
        env: { ...baseEnv, ...options.env },
        cwd: home,
        globals: { config: path },
        stdin: options.stdin,
      });
    },
    async keeper(config, options = {}) {
      const keeper = await createKeeper({ config, env: baseEnv, ...options });
      // A row may close it itself (to hand the store to a command); closing twice is harmless here.
      onFinished(() => keeper.close().catch(() => undefined));
      return keeper;
    },
  };
}

async function fitbit(onFinished: OnFinished, options: Parameters<typeof startSimulatedFitbit>[0] = {}) {
  const sim = await startSimulatedFitbit({ userId: 'USER01', ...options });
  onFinished(() => sim.close());
  return sim;
}

async function generic(onFinished: OnFinished): Promise<SimulatedOAuthProvider> {
  const sim = await startSimulatedOAuth2();
  onFinished(() => sim.close());
  return sim;
}

/** A keeper whose fitbit provider is the simulator, with `config` on top (and `fitbitSettings` in its entry). */
async function fitbitKeeper(
  onFinished: OnFinished,
  config: ConfigFile = {},
  fitbitSettings: Record<string, unknown> = {},
  simOptions: Parameters<typeof startSimulatedFitbit>[0] = {},
) {
  const sim = await fitbit(onFinished, simOptions);
  const w = world(onFinished, { FITBIT_SECRET: sim.clientSecret });
  const keeper = await w.keeper({ ...config, providers: { fitbit: providerConfig(sim, fitbitSettings) } });
  return { sim, w, keeper };
}

/** A keeper whose google-health provider is a simulated Google, with `settings` in its entry. */
async function googleKeeper(onFinished: OnFinished, settings: Record<string, unknown>) {
  const sim = await startSimulatedGoogle();
  onFinished(() => sim.close());
  const keeper = await world(onFinished).keeper({
    providers: {
      'google-health': {
        tokenUrl: sim.tokenUrl,
        authorizationUrl: sim.authorizeUrl,
        revokeUrl: sim.revokeUrl,
        ...settings,
      },
    },
  });
  return { sim, keeper, name: await addSeeded(keeper, sim, 'google-health') };
}

const DAY_MS = 86_400_000;

/** Imports a grant of the simulator as connection `name` (no access token yet: due at once). */
async function addSeeded(
  keeper: Keeper,
  sim: SimulatedFitbit | SimulatedGoogle | SimulatedOAuthProvider,
  provider = 'fitbit',
  name = 'me',
): Promise<string> {
  const seed = sim.seedGrant();
  await keeper.addConnection({
    name,
    provider,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    tokens: { refreshToken: seed.refreshToken },
  });
  return name;
}

function eventsOf(keeper: Keeper): KeeperEvent[] {
  const events: KeeperEvent[] = [];
  keeper.onEvent((event) => events.push(event));
  return events;
}

/** The consent URL `connect --paste` prints before it reads the redirect (stdin is empty: it then stops). */
async function consentUrl(w: World, config: ConfigFile, provider = 'fitbit'): Promise<URL> {
  const io = w.io(config);
  const error = await rejection(runConnect(connectOptions(provider, { browser: false, paste: true }), io));
  expect(error.message).toMatch(/standard input ended before a URL was pasted/);
  const [, url] = io.err().match(CONSENT_URL) ?? [];
  if (!url) throw new Error(`no consent URL on stderr: ${io.err()}`);
  return new URL(url);
}

/** Resolves once `condition` holds (checked every 20 ms); rejects after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A harness (real CLI, simulated Fitbit) whose config adds `config`. */
function cliWith(onFinished: OnFinished, config: Record<string, unknown>, sim = {}): Promise<Harness> {
  return createHarness(onFinished, { config, sim });
}

/** Imports connections straight into the harness's store (due at once) with a keeper of this process. */
async function importInto(h: Harness, refreshTokens: string[]): Promise<void> {
  const keeper = await createKeeper({ config: h.configPath, env: h.env });
  try {
    for (const [index, refreshToken] of refreshTokens.entries()) {
      await keeper.addConnection({
        name: `c${index + 1}`,
        provider: 'fitbit',
        clientId: h.sim.clientId,
        clientSecret: h.sim.clientSecret,
        tokens: { refreshToken },
      });
    }
  } finally {
    await keeper.close();
  }
}

async function stopDaemon(daemon: CliProcess): Promise<void> {
  daemon.child.kill('SIGTERM');
  expectSuccess(await daemon.done);
}

/** The daemon's "tokenkeeper running" log record. */
async function runningRecord(daemon: CliProcess): Promise<Record<string, unknown>> {
  const [line] = await daemon.waitFor(/^.*"msg":"tokenkeeper running".*$/m);
  return JSON.parse(line) as Record<string, unknown>;
}

async function webhookReceiverThatNeverAnswers(onFinished: OnFinished): Promise<string> {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

async function receiver(onFinished: OnFinished, script: number[] = []) {
  const started = await startReceiver(script);
  onFinished(() => started.close());
  return started;
}

const tlsCert = new URL('../server/fixtures/tls-cert.pem', import.meta.url).pathname;
const tlsKey = new URL('../server/fixtures/tls-key.pem', import.meta.url).pathname;

/** One fake Key Vault (and Azurite for its locks) for the keyVault rows, started by the first of them. */
let azureWorld: Promise<AzureWorld> | undefined;
afterAll(async () => {
  await (await azureWorld?.catch(() => undefined))?.close();
});

/**
 * Adds connection `name` to the fake vault with `keyVault` as the config's section, and returns the vault's
 * secrets by name: which names the connection's secrets got is what the keyVault keys decide.
 */
async function addToVault(
  onFinished: OnFinished,
  name: string,
  keyVault: NonNullable<ConfigFile['keyVault']>,
): Promise<{
  vault: AzureWorld;
  secret(name: string): { value: string; tags?: Record<string, string>; contentType?: string } | undefined;
}> {
  azureWorld ??= startAzureWorld();
  const vault = await azureWorld;
  const keeper = await createKeeper({
    config: { ...vault.config, keyVault },
    store: `keyvault://${vault.kv.host}`,
    env: vault.env,
    azureCredential: vault.credential,
  });
  onFinished(() => keeper.close());
  await keeper.addConnection({
    name,
    provider: 'fitbit',
    clientId: 'client-of-' + name,
    clientSecret: 'secret-of-' + name,
    tokens: {
      refreshToken: `rt-${name}`,
      accessToken: `at-${name}`,
      expiresAt: Date.now() + 3_600_000,
      scope: 'activity heartrate',
      providerUserId: 'USER42',
    },
  });
  return { vault, secret: (secret) => vault.kv.versionsOf(secret)?.at(-1) };
}

// ---- the table -------------------------------------------------------------------------------------------------

const rows: Row[] = [
  {
    keys: ['keyVault.connections.<id>.accessTokenSecret'],
    async test(onFinished) {
      const { secret } = await addToVault(onFinished, 'kvat', {
        connections: { kvat: { accessTokenSecret: 'PipelineAccessToken' } },
      });
      expect(secret('PipelineAccessToken')?.value).toBe('at-kvat');
      expect(secret('kvat-AccessToken')).toBeUndefined();
      expect(secret('kvat-RefreshToken')?.value).toBe('rt-kvat');
    },
  },
  {
    keys: ['keyVault.connections.<id>.refreshTokenSecret'],
    async test(onFinished) {
      const { secret } = await addToVault(onFinished, 'kvrt', {
        connections: { kvrt: { refreshTokenSecret: 'PipelineRefreshToken' } },
      });
      expect(secret('PipelineRefreshToken')?.value).toBe('rt-kvrt');
      expect(secret('kvrt-RefreshToken')).toBeUndefined();
    },
  },
  {
    keys: ['keyVault.connections.<id>.credentialsSecret'],
    async test(onFinished) {
      const { secret } = await addToVault(onFinished, 'kvcr', {
        connections: { kvcr: { credentialsSecret: 'PipelineCredentials' } },
      });
      expect(Buffer.from(secret('PipelineCredentials')?.value ?? '', 'base64').toString()).toBe(
        'client-of-kvcr:secret-of-kvcr',
      );
    },
  },
  {
    keys: ['keyVault.connections.<id>.clientIdSecret', 'keyVault.connections.<id>.clientSecretSecret'],
    async test(onFinished) {
      const { secret } = await addToVault(onFinished, 'kvsp', {
        connections: {
          kvsp: { clientIdSecret: 'PipelineClientId', clientSecretSecret: 'PipelineClientSecret' },
        },
      });
      expect(secret('PipelineClientId')?.value).toBe('client-of-kvsp');
      expect(secret('PipelineClientSecret')?.value).toBe('secret-of-kvsp');
      expect(secret('kvsp-FitbitCredentials')).toBeUndefined();
    },
  },
  {
    keys: ['keyVault.connections.<id>.stateSecret'],
    async test(onFinished) {
      const { secret } = await addToVault(onFinished, 'kvst', {
        connections: { kvst: { stateSecret: 'PipelineState' } },
      });
      expect(JSON.parse(secret('PipelineState')?.value ?? '{}')).toMatchObject({
        schema: 1,
        provider: 'fitbit',
      });
      expect(secret('kvst-TokenkeeperState')).toBeUndefined();
    },
  },
  {
    keys: ['keyVault.accountTags'],
    async test(onFinished) {
      const { secret } = await addToVault(onFinished, 'kvtg', { accountTags: true });
      expect(secret('kvtg-AccessToken')?.tags).toMatchObject({ user: 'USER42', scope: 'activity heartrate' });
      const { secret: untagged } = await addToVault(onFinished, 'kvtn', {});
      expect(untagged('kvtn-AccessToken')?.tags?.user).toBeUndefined();
      expect(untagged('kvtn-AccessToken')?.tags?.scope).toBeUndefined();
    },
  },

  {
    keys: ['store'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const w = world(onFinished);
      const store = join(w.root, 'elsewhere.db');
      await addSeeded(await w.keeper({ store, providers: { fitbit: providerConfig(sim) } }), sim);
      expect(existsSync(store)).toBe(true);
      expect(existsSync(join(w.home, 'tokenkeeper.db'))).toBe(false);
    },
  },
  {
    keys: ['dataDir'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const w = world(onFinished);
      const dataDir = join(w.root, 'data');
      // TOKENKEEPER_HOME would win over the key: this keeper has none (and a data home of its own as fallback).
      const keeper = await w.keeper(
        { dataDir, providers: { fitbit: providerConfig(sim) } },
        { env: { TOKENKEEPER_KEY: KEY, XDG_DATA_HOME: join(w.root, 'xdg') } },
      );
      await addSeeded(keeper, sim);
      expect(existsSync(join(dataDir, 'tokenkeeper.db'))).toBe(true);
      expect(existsSync(join(w.root, 'xdg'))).toBe(false);
    },
  },
  {
    // Issue 11, defect 1: the CLI took its level from --log-level and TOKENKEEPER_LOG_LEVEL only.
    keys: ['logLevel'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { logLevel: 'error' });
      await h.addConnection('me');
      const messages = (stderr: string) => logRecords(stderr).map((record) => record.msg);
      const quiet = expectSuccess(await h.cli(['refresh', 'me', '--force']));
      expect(quiet.stdout).toMatch(/^me: refreshed/);
      expect(messages(quiet.stderr)).not.toContain('refreshed'); // refresh logs at info by default
      // The flag and the environment still win over the config.
      const flag = expectSuccess(await h.cli(['refresh', 'me', '--force'], { logLevel: 'info' }));
      expect(messages(flag.stderr)).toContain('refreshed');
      const env = expectSuccess(
        await h.cli(['refresh', 'me', '--force'], { env: { TOKENKEEPER_LOG_LEVEL: 'info' } }),
      );
      expect(messages(env.stderr)).toContain('refreshed');
    },
  },
  {
    keys: ['refresh.marginSeconds'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, { refresh: { marginSeconds: 10_000 } });
      const summary = await keeper.refresh(await addSeeded(keeper, sim), { force: true });
      // Fitbit tokens live 8 h: the default margin is max(15 min, 10 % of 8 h) = 48 min (+ up to 20 % jitter).
      expect((summary.expiresAt ?? 0) - (summary.nextRefreshAt ?? 0)).toBeGreaterThanOrEqual(8_000_000);
    },
  },
  {
    keys: ['refresh.marginRatio'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, { refresh: { marginRatio: 0.4 } });
      const summary = await keeper.refresh(await addSeeded(keeper, sim), { force: true });
      // 40 % of 8 h = 3.2 h, less at most 20 % jitter.
      expect((summary.expiresAt ?? 0) - (summary.nextRefreshAt ?? 0)).toBeGreaterThanOrEqual(9_000_000);
    },
  },
  {
    keys: ['refresh.defaultLifetimeSeconds'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, { refresh: { defaultLifetimeSeconds: 120 } });
      const name = await addSeeded(keeper, sim);
      sim.inject({ kind: 'omit', fields: ['expires_in'] });
      const summary = await keeper.refresh(name, { force: true });
      const lifetime = (summary.expiresAt ?? 0) - (summary.lastRefreshAt ?? 0);
      expect(lifetime).toBeGreaterThan(60_000);
      expect(lifetime).toBeLessThanOrEqual(120_000);
    },
  },
  {
    keys: ['refresh.expiringSoonDays'],
    async test(onFinished) {
      // The client secret expires in 10 days: inside a 20-day window, outside the default week. (The window is
      // the refresh tokens' too; a Fitbit one is renewed by the next planned refresh, so never at risk here.)
      const secretDies = new Date(Date.now() + 10 * DAY_MS).toISOString();
      const { sim, keeper } = await fitbitKeeper(
        onFinished,
        { refresh: { expiringSoonDays: 20 } },
        { clientSecretExpiresAt: secretDies },
      );
      await addSeeded(keeper, sim);
      expect((await keeper.status()).map((connection) => connection.expiringSoon)).toEqual([true]);
    },
  },
  {
    keys: ['refresh.timeoutSeconds'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, { refresh: { timeoutSeconds: 0.5 } });
      const name = await addSeeded(keeper, sim);
      const events = eventsOf(keeper);
      sim.inject({ kind: 'hang' });
      await keeper.refresh(name, { force: true }); // the retry with the same token succeeds
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'refresh_failed', error: expect.stringMatching(/within 500 ms/) }),
      );
    },
  },
  {
    keys: ['refresh.maxAttempts'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, { refresh: { maxAttempts: 1 } });
      const name = await addSeeded(keeper, sim);
      sim.inject({ kind: 'status', status: 503 }, 3);
      await rejection(keeper.refresh(name, { force: true }));
      expect(sim.stats.refreshRequests).toBe(1);
    },
  },
  {
    keys: ['refresh.maxResponseBytes'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, { refresh: { maxResponseBytes: 2048 } });
      const name = await addSeeded(keeper, sim);
      const events = eventsOf(keeper);
      sim.inject({ kind: 'oversized', bytes: 5000 });
      await keeper.refresh(name, { force: true });
      expect(events).toContainEqual(
        expect.objectContaining({
          type: 'refresh_failed',
          error: expect.stringMatching(/over the 2048-byte limit/),
        }),
      );
    },
  },
  {
    keys: ['refresh.lockTtlSeconds'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { refresh: { lockTtlSeconds: 1 } });
      await h.addConnection('me');
      const requests = h.sim.stats.refreshRequests;
      h.sim.inject({ kind: 'hang' });
      const stuck = h.start(['refresh', 'me', '--force']);
      await until(() => h.sim.stats.refreshRequests > requests, 'the refresh request');
      // Stopped while it holds the lock: alive (so not a dead holder the store frees at once), never renewing.
      stuck.child.kill('SIGSTOP');
      onFinished(() => stuck.stop());
      // A refresher that waits at most 5 s gets the lock once the stuck one's 1 s lease has run out.
      const patient = h.writeConfig(
        { refresh: { lockWaitSeconds: 5 }, providers: { fitbit: providerConfig(h.sim) } },
        'patient.json',
      );
      expect(expectSuccess(await h.cli(['refresh', 'me', '--force'], { config: patient })).stdout).toMatch(
        /^me: refreshed/,
      );
    },
  },
  {
    keys: ['refresh.lockWaitSeconds'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, { refresh: { lockWaitSeconds: 1 } });
      const name = await addSeeded(keeper, sim);
      expect(await keeper.store.tryLock(name, 'another-refresher', 60_000)).toBeDefined();
      const error = await rejection(keeper.refresh(name, { force: true }));
      expect(error.message).toMatch(/stayed locked by another refresher for 1 s/);
    },
  },
  {
    keys: ['refresh.saveRetrySeconds'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const w = world(onFinished);
      const keyring = loadKeyring({ dataDir: w.home, env: w.env });
      const flaky = new FlakyStore(
        await openStore(join(w.home, 'tokenkeeper.db'), { keyring, dataDir: w.home, env: w.env }),
      );
      const keeper = await w.keeper(
        { refresh: { saveRetrySeconds: 0.3 }, providers: { fitbit: providerConfig(sim) } },
        { connectionStore: flaky },
      );
      const name = await addSeeded(keeper, sim);
      flaky.failures = Infinity;
      const error = await rejection(keeper.refresh(name, { force: true }));
      expect(error.message).toMatch(/safe in the rescue journal/);
      // Retried with backoff from 0.1 s for 0.3 s: a few writes (the default 30 s makes about ten).
      expect(flaky.failed).toBeLessThanOrEqual(4);
    },
  },
  {
    keys: ['connect.port'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const w = world(onFinished, { FITBIT_SECRET: sim.clientSecret });
      const port = await freePort();
      const io = w.io({ connect: { port }, providers: { fitbit: providerConfig(sim) } });
      const connecting = runConnect(connectOptions('fitbit', { browser: false }), io);
      connecting.catch(() => undefined); // awaited below
      const [, consent] = await io.waitForErr(CONSENT_URL);
      expect(new URL(consent as string).searchParams.get('redirect_uri')).toBe(
        `http://127.0.0.1:${port}/callback`,
      );
      expect((await fetch(await approve(consent as string))).status).toBe(200);
      await connecting;
      expect(io.out()).toBe('fitbit: connected to Fitbit Web API (account USER01)\n');
    },
  },
  {
    // Issue 11, defect 2: a literal commander default of 300 s once hid connect.timeoutSeconds.
    keys: ['connect.timeoutSeconds'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { connect: { timeoutSeconds: 1 } });
      const result = await h.cli(['connect', 'fitbit', '--no-browser', '--port', '0']);
      expect(result.stderr).toMatch(/Waiting up to 1 s for the consent/);
      expect(lines(result.stderr).at(-1)).toBe('tokenkeeper: error: no authorization arrived within 1 s');
      expect(result.code).toBe(4);
    },
  },
  {
    keys: ['daemon.concurrency'],
    async test(onFinished) {
      const started: { sim?: SimulatedFitbit } = {};
      let mostAtOnce = 0;
      const h = await cliWith(
        onFinished,
        { daemon: { concurrency: 1 } },
        {
          // Each token request takes 300 ms; counted as it arrives, itself included.
          latencyMs: () => {
            const open = (started.sim?.stats.requests ?? []).filter(
              (request) => request.path === '/oauth2/token' && request.status === undefined,
            );
            mostAtOnce = Math.max(mostAtOnce, open.length);
            return 300;
          },
        },
      );
      started.sim = h.sim;
      await importInto(h, [
        h.seed().refreshToken,
        h.seed({ userId: 'U2' }).refreshToken,
        h.seed({ userId: 'U3' }).refreshToken,
      ]);
      const daemon = h.start(['run', '--no-server']);
      await until(() => h.sim.stats.refreshSuccesses >= 3, 'three refreshes');
      await stopDaemon(daemon);
      expect(mostAtOnce).toBe(1); // the default (4) starts all three at once
    },
  },
  {
    keys: ['daemon.maxSleepSeconds'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { daemon: { maxSleepSeconds: 1 } });
      const daemon = h.start(['run', '--no-server']);
      await runningRecord(daemon);
      // Added behind the sleeping daemon's back: nothing wakes it but its own timer.
      await importInto(h, [h.seed().refreshToken]);
      await until(() => h.sim.stats.refreshSuccesses >= 1, 'the refresh of a connection added later');
      await stopDaemon(daemon);
    },
  },
  {
    keys: ['providers.<id>.extends'],
    async test(onFinished) {
      const io = world(onFinished).io({ providers: { mine: { extends: 'fitbit' } } });
      runProviders({ id: 'mine', json: true }, io);
      // A provider id that is not built in names its template with "extends"; it inherits the rest.
      expect(JSON.parse(io.out())).toMatchObject({
        id: 'mine',
        builtIn: false,
        refreshTokens: 'single-use',
        appSettings: { scopes: ['activity', 'heartrate', 'profile', 'sleep', 'weight'] },
      });
    },
  },
  {
    keys: ['providers.<id>.displayName'],
    async test(onFinished) {
      const io = world(onFinished).io({ providers: { fitbit: { displayName: 'Our Fitbit' } } });
      runProviders({ id: 'fitbit', json: true }, io);
      expect(JSON.parse(io.out())).toMatchObject({ id: 'fitbit', displayName: 'Our Fitbit' });
    },
  },
  {
    keys: ['providers.<id>.authorizationUrl'],
    async test(onFinished) {
      const url = await consentUrl(world(onFinished), {
        providers: {
          fitbit: { clientId: 'my-app', authorizationUrl: 'http://127.0.0.1:9/elsewhere/authorize' },
        },
      });
      expect(`${url.origin}${url.pathname}`).toBe('http://127.0.0.1:9/elsewhere/authorize');
    },
  },
  {
    keys: ['providers.<id>.tokenUrl'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const keeper = await world(onFinished).keeper({ providers: { fitbit: { tokenUrl: sim.tokenUrl } } });
      const summary = await keeper.refresh(await addSeeded(keeper, sim), { force: true });
      expect(summary.status).toBe('active');
      expect(sim.stats.refreshSuccesses).toBe(1);
    },
  },
  {
    keys: ['providers.<id>.revokeUrl'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const keeper = await world(onFinished).keeper({ providers: { fitbit: { revokeUrl: sim.revokeUrl } } });
      expect(await keeper.remove(await addSeeded(keeper, sim), { revoke: true })).toEqual({
        removed: true,
        revoked: true,
      });
      expect(sim.stats.revocations).toBe(1);
    },
  },
  {
    keys: ['providers.<id>.deviceAuthorizationUrl'],
    async test(onFinished) {
      const sim = await generic(onFinished);
      const io = world(onFinished).io({
        providers: {
          mycorp: {
            extends: 'oauth2',
            tokenUrl: sim.tokenUrl,
            deviceAuthorizationUrl: sim.deviceAuthorizationUrl,
            clientId: sim.clientId,
            scopes: ['read'],
          },
        },
      });
      const connecting = runConnect(connectOptions('mycorp', { browser: false, device: true }), io);
      connecting.catch(() => undefined); // awaited below
      const [, userCode] = await io.waitForErr(/enter the code:\n\n {2}(\S+)\n/);
      expect(sim.approveDevice(userCode as string)).toBe(true);
      await connecting;
      expect(io.out()).toBe('mycorp: connected to mycorp\n');
    },
  },
  {
    keys: ['providers.<id>.apiBaseUrl'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const w = world(onFinished);
      const config = { providers: { fitbit: { tokenUrl: sim.tokenUrl, apiBaseUrl: sim.url } } };
      const keeper = await w.keeper(config);
      await addSeeded(keeper, sim);
      await keeper.close();
      const io = w.io(config);
      await runFetch(fetchOptions('me', '/1/user/-/profile.json', {}), io);
      expect(JSON.parse(io.out())).toMatchObject({ user: { encodedId: 'USER01' } });
      expect(sim.stats.apiRequests).toBe(1);
    },
  },
  {
    keys: ['providers.<id>.tenant'],
    async test(onFinished) {
      const sim = await startSimulatedMicrosoft({ tenant: 'contoso' });
      onFinished(() => sim.close());
      const keeper = await world(onFinished).keeper({
        providers: { microsoft: { tokenUrl: `${sim.url}/{tenant}/oauth2/v2.0/token`, tenant: 'contoso' } },
      });
      const summary = await keeper.refresh(await addSeeded(keeper, sim, 'microsoft'), { force: true });
      expect(summary.status).toBe('active');
    },
  },
  {
    keys: ['providers.<id>.clientAuth'],
    async test(onFinished) {
      const sim = await generic(onFinished);
      const keeper = await world(onFinished).keeper({
        providers: { mycorp: { extends: 'oauth2', tokenUrl: sim.tokenUrl, clientAuth: 'body' } },
      });
      await keeper.refresh(await addSeeded(keeper, sim, 'mycorp'), { force: true });
      expect(sim.tokenRequests.at(-1)?.clientAuth).toBe('body'); // the oauth2 template sends Basic
    },
  },
  {
    keys: ['providers.<id>.pkce'],
    async test(onFinished) {
      const url = await consentUrl(world(onFinished), {
        providers: { fitbit: { clientId: 'my-app', pkce: false } },
      });
      expect(url.searchParams.get('client_id')).toBe('my-app');
      expect(url.searchParams.has('code_challenge')).toBe(false);
    },
  },
  {
    keys: ['providers.<id>.scopeSeparator'],
    async test(onFinished) {
      const url = await consentUrl(world(onFinished), {
        providers: { fitbit: { clientId: 'my-app', scopeSeparator: ',' } },
      });
      expect(url.searchParams.get('scope')).toBe('activity,heartrate,profile,sleep,weight');
    },
  },
  {
    keys: ['providers.<id>.scopes'],
    async test(onFinished) {
      const url = await consentUrl(world(onFinished), {
        providers: { fitbit: { clientId: 'my-app', scopes: ['sleep', 'weight'] } },
      });
      expect(url.searchParams.get('scope')).toBe('sleep weight');
    },
  },
  {
    keys: ['providers.<id>.extraAuthParams'],
    async test(onFinished) {
      const url = await consentUrl(world(onFinished), {
        providers: { fitbit: { clientId: 'my-app', extraAuthParams: { audience: 'my-api' } } },
      });
      expect(url.searchParams.get('audience')).toBe('my-api');
    },
  },
  {
    keys: ['providers.<id>.extraTokenParams'],
    async test(onFinished) {
      const sim = await generic(onFinished);
      const keeper = await world(onFinished).keeper({
        providers: {
          mycorp: { extends: 'oauth2', tokenUrl: sim.tokenUrl, extraTokenParams: { audience: 'my-api' } },
        },
      });
      await keeper.refresh(await addSeeded(keeper, sim, 'mycorp'), { force: true });
      expect(sim.tokenRequests.at(-1)?.params).toMatchObject({
        grant_type: 'refresh_token',
        audience: 'my-api',
      });
    },
  },
  {
    keys: ['providers.<id>.clientId'],
    async test(onFinished) {
      const url = await consentUrl(world(onFinished), {
        providers: { fitbit: { clientId: 'configured-app' } },
      });
      expect(url.searchParams.get('client_id')).toBe('configured-app');
    },
  },
  {
    keys: ['providers.<id>.clientSecret'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const seed = sim.seedGrant();
      const io = world(onFinished).io(
        {
          providers: {
            fitbit: { tokenUrl: sim.tokenUrl, clientId: sim.clientId, clientSecret: 'env:FITBIT_SECRET' },
          },
        },
        { env: { FITBIT_SECRET: sim.clientSecret, RT: seed.refreshToken } },
      );
      // No --client-secret: the Basic client auth the simulated Fitbit demands uses the configured one.
      await runAdd(addOptions('me', { provider: 'fitbit', refreshToken: 'env:RT', verify: true }), io);
      expect(io.out()).toMatch(/^me: imported and verified \(account USER01\)/);
    },
  },
  {
    keys: ['providers.<id>.clientSecretExpiresAt'],
    async test(onFinished) {
      const sim = await fitbit(onFinished);
      const w = world(onFinished, { FITBIT_SECRET: sim.clientSecret });
      const expires = new Date(Date.now() + 3 * 86_400_000).toISOString();
      const keeper = await w.keeper({
        providers: { fitbit: providerConfig(sim, { clientSecretExpiresAt: expires }) },
      });
      const events = eventsOf(keeper);
      const now = Date.now();
      for (const clientId of [sim.clientId, 'another-app']) {
        const seed = sim.seedGrant();
        await keeper.addConnection({
          name: clientId === sim.clientId ? 'configured' : 'own-client',
          provider: 'fitbit',
          clientId,
          clientSecret: sim.clientSecret,
          tokens: {
            accessToken: seed.accessToken,
            refreshToken: seed.refreshToken,
            obtainedAt: now,
            expiresAt: now + 3_600_000,
          },
        });
      }
      // Only the connection that uses the configured client (its secret) is expiring.
      expect((await keeper.status()).map((c) => [c.name, c.expiringSoon])).toEqual([
        ['configured', true],
        ['own-client', false],
      ]);
      keeper.announceExpiring(await keeper.connectionsForScheduling(), new AnnouncedNotices());
      expect(events).toMatchObject([
        { type: 'expiring_soon', name: 'configured', what: 'client_secret', expiresAt: Date.parse(expires) },
      ]);
    },
  },
  {
    keys: ['providers.<id>.redirectUri'],
    async test(onFinished) {
      const url = await consentUrl(world(onFinished), {
        providers: { fitbit: { clientId: 'my-app', redirectUri: 'https://app.example.com/oauth/callback' } },
      });
      expect(url.searchParams.get('redirect_uri')).toBe('https://app.example.com/oauth/callback');
    },
  },
  {
    keys: ['providers.<id>.publishingStatus'],
    async test(onFinished) {
      // An app in "Testing": refresh tokens live 7 days, so a known expiry 3 days away is warned about a day
      // ahead, not yet; in production (6 months unused) the week's window holds it already.
      const expiringIn3Days = async (settings: Record<string, unknown>) => {
        const { sim, keeper } = await googleKeeper(onFinished, settings);
        await keeper.remove('me');
        await keeper.addConnection({
          name: 'me',
          provider: 'google-health',
          clientId: sim.clientId,
          clientSecret: sim.clientSecret,
          tokens: {
            refreshToken: sim.seedGrant().refreshToken,
            refreshTokenExpiresAt: Date.now() + 3 * DAY_MS,
          },
        });
        return (await keeper.status()).map((connection) => connection.expiringSoon);
      };
      expect(await expiringIn3Days({ publishingStatus: 'testing' })).toEqual([false]);
      expect(await expiringIn3Days({ publishingStatus: 'production' })).toEqual([true]);
    },
  },
  {
    keys: ['providers.<id>.refreshTokenLifetimeDays'],
    async test(onFinished) {
      // Fitbit's refresh tokens have no time limit of their own; configured, each rotated one lives 10 days.
      const { sim, keeper } = await fitbitKeeper(onFinished, {}, { refreshTokenLifetimeDays: 10 });
      const summary = await keeper.refresh(await addSeeded(keeper, sim), { force: true });
      expect(summary.refreshTokenExpiresAt).toBeGreaterThan(Date.now() + 9.9 * DAY_MS);
      expect(summary.refreshTokenExpiresAt).toBeLessThanOrEqual(Date.now() + 10 * DAY_MS);
    },
  },
  {
    keys: ['providers.<id>.refreshTokenRenewedByUse'],
    async test(onFinished) {
      // Google renews by use; told otherwise, a refresh keeps the expiry of the (unrotated) refresh token.
      const { keeper, name } = await googleKeeper(onFinished, { refreshTokenRenewedByUse: false });
      const first = await keeper.refresh(name, { force: true });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const second = await keeper.refresh(name, { force: true });
      expect(second.lastRefreshAt).toBeGreaterThan(first.lastRefreshAt ?? Infinity);
      expect(second.refreshTokenExpiresAt).toBe(first.refreshTokenExpiresAt);
    },
  },
  {
    keys: ['providers.<id>.keepAliveDays'],
    async test(onFinished) {
      // A fresh access token obtained two days ago: not due by its expiry, but older than a one-day keep-alive.
      const { sim, keeper } = await fitbitKeeper(onFinished, {}, { keepAliveDays: 1 });
      const seed = sim.seedGrant();
      await keeper.addConnection({
        name: 'me',
        provider: 'fitbit',
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
        tokens: {
          refreshToken: seed.refreshToken,
          accessToken: seed.accessToken,
          expiresAt: Date.now() + 7 * 3_600_000,
          obtainedAt: Date.now() - 2 * DAY_MS,
        },
      });
      const { outcome } = await keeper.refreshReporting('me');
      expect(outcome).toBe('refreshed');
      expect(sim.stats.refreshRequests).toBe(1);
    },
  },
  {
    keys: ['providers.<id>.defaultLifetimeSeconds'],
    async test(onFinished) {
      const { sim, keeper } = await fitbitKeeper(onFinished, {}, { defaultLifetimeSeconds: 120 });
      const name = await addSeeded(keeper, sim);
      sim.inject({ kind: 'omit', fields: ['expires_in'] });
      const summary = await keeper.refresh(name, { force: true });
      const lifetime = (summary.expiresAt ?? 0) - (summary.lastRefreshAt ?? 0);
      expect(lifetime).toBeGreaterThan(60_000);
      expect(lifetime).toBeLessThanOrEqual(120_000);
    },
  },
  {
    keys: ['providers.<id>.expiringSoonDays'],
    async test(onFinished) {
      // The client secret expires in 10 days: inside this provider's 20-day window, outside the default week.
      const secretDies = new Date(Date.now() + 10 * DAY_MS).toISOString();
      const { sim, keeper } = await fitbitKeeper(
        onFinished,
        {},
        { expiringSoonDays: 20, clientSecretExpiresAt: secretDies },
      );
      await addSeeded(keeper, sim);
      expect((await keeper.status()).map((connection) => connection.expiringSoon)).toEqual([true]);
    },
  },
  {
    keys: ['server.enabled'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { server: { enabled: false } });
      const daemon = h.start(['run', '--listen', '127.0.0.1:0']);
      expect(await runningRecord(daemon)).not.toHaveProperty('url');
      await stopDaemon(daemon);
      expect(daemon.stderr()).not.toMatch(/"msg":"serving"/);
    },
  },
  {
    keys: ['server.listen'],
    async test(onFinished) {
      const port = await freePort();
      const h = await cliWith(onFinished, { server: { listen: `127.0.0.1:${port}` } });
      const daemon = h.start(['run']);
      expect(await runningRecord(daemon)).toMatchObject({ url: `http://127.0.0.1:${port}` });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      await stopDaemon(daemon);
    },
  },
  {
    // The schema takes the certificate and its key together.
    keys: ['server.tls.cert', 'server.tls.key'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { server: { tls: { cert: tlsCert, key: tlsKey } } });
      const daemon = h.start(['run', '--listen', '127.0.0.1:0']);
      expect(String((await runningRecord(daemon)).url)).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      await stopDaemon(daemon);
    },
  },
  {
    keys: ['server.rateLimit.max'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { server: { rateLimit: { max: 7 } } });
      const key = await createApiKey(h, ['*']);
      const daemon = await startDaemon(h);
      const answer = await api(`${daemon.url}/v1/connections`, { key });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-ratelimit-limit')).toBe('7');
      await daemon.stop();
    },
  },
  {
    keys: ['server.rateLimit.windowSeconds'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { server: { rateLimit: { max: 600, windowSeconds: 3600 } } });
      const key = await createApiKey(h, ['*']);
      const daemon = await startDaemon(h);
      const answer = await api(`${daemon.url}/v1/connections`, { key });
      expect(Number(answer.headers.get('x-ratelimit-reset'))).toBeGreaterThan(60);
      await daemon.stop();
    },
  },
  {
    keys: ['server.statusPage'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { server: { statusPage: false } });
      const daemon = await startDaemon(h);
      expect((await fetch(`${daemon.url}/`)).status).toBe(404);
      expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
      await daemon.stop();
    },
  },
  {
    keys: ['server.loginRequired'],
    async test(onFinished) {
      const h = await cliWith(onFinished, { server: { loginRequired: true } });
      const daemon = await startDaemon(h);
      // On a loopback listen the status page is open unless the config asks for a login.
      expect((await fetch(`${daemon.url}/`)).status).toBe(401);
      await daemon.stop();
    },
  },
  {
    keys: ['server.metricsToken'],
    async test(onFinished) {
      const token = 'metrics-token-0123456789';
      const h = await cliWith(onFinished, { server: { metricsToken: 'env:TK_METRICS_TOKEN' } });
      const daemon = await startDaemon(h, [], { env: { TK_METRICS_TOKEN: token } });
      expect((await fetch(`${daemon.url}/metrics`)).status).toBe(401);
      const scraped = await fetch(`${daemon.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(scraped.status).toBe(200);
      await daemon.stop();
    },
  },
  {
    keys: ['server.publicUrl'],
    async test(onFinished) {
      const hooks = await receiver(onFinished);
      const io = world(onFinished).io(
        {
          server: { publicUrl: 'https://keeper.example.com' },
          webhooks: { endpoints: [{ url: hooks.url, secret: 'env:HOOK_SECRET' }] },
        },
        { env: { HOOK_SECRET: SECRET } },
      );
      await runWebhookTest(webhookTestOptions({ event: 'needs_reauth', connection: 'fitbit-me' }), io);
      expect(hooks.received[0]?.json.links).toEqual({
        reconnect: 'https://keeper.example.com/connections/fitbit-me/reconnect',
      });
    },
  },
  {
    keys: ['webhooks.endpoints[].url'],
    async test(onFinished) {
      const hooks = await receiver(onFinished);
      const io = world(onFinished).io(
        { webhooks: { endpoints: [{ url: hooks.url, secret: 'env:HOOK_SECRET' }] } },
        { env: { HOOK_SECRET: SECRET } },
      );
      expect(await runWebhookTest(webhookTestOptions({}), io)).toBeUndefined();
      expect(hooks.received.map((hook) => hook.json.type)).toEqual(['test']);
    },
  },
  {
    keys: ['webhooks.endpoints[].secret'],
    async test(onFinished) {
      const hooks = await receiver(onFinished);
      const io = world(onFinished).io(
        { webhooks: { endpoints: [{ url: hooks.url, secret: 'env:HOOK_SECRET' }] } },
        { env: { HOOK_SECRET: SECRET } },
      );
      await runWebhookTest(webhookTestOptions({}), io);
      const [hook] = hooks.received;
      expect(hook && verifiedJson(SECRET, hook)).toMatchObject({ type: 'test' });
    },
  },
  {
    keys: ['webhooks.endpoints[].previousSecrets'],
    async test(onFinished) {
      const hooks = await receiver(onFinished);
      const io = world(onFinished).io(
        {
          webhooks: {
            endpoints: [{ url: hooks.url, secret: 'env:HOOK_SECRET', previousSecrets: ['env:OLD_SECRET'] }],
          },
        },
        { env: { HOOK_SECRET: SECRET, OLD_SECRET } },
      );
      await runWebhookTest(webhookTestOptions({}), io);
      const [hook] = hooks.received;
      // A receiver that still has the old secret verifies it too.
      expect(hook && verifiedJson(OLD_SECRET, hook)).toMatchObject({ type: 'test' });
    },
  },
  {
    keys: ['webhooks.endpoints[].format'],
    async test(onFinished) {
      const hooks = await receiver(onFinished);
      const io = world(onFinished).io({ webhooks: { endpoints: [{ url: hooks.url, format: 'slack' }] } });
      await runWebhookTest(webhookTestOptions({ event: 'needs_reauth', connection: 'fitbit-me' }), io);
      expect(hooks.received.map((hook) => hook.json)).toEqual([
        { text: 'fitbit-me (example) needs you to reconnect: tokenkeeper connect example --name fitbit-me' },
      ]);
    },
  },
  {
    keys: ['webhooks.endpoints[].token'],
    async test(onFinished) {
      const hooks = await receiver(onFinished);
      const io = world(onFinished).io(
        { webhooks: { endpoints: [{ url: hooks.url, format: 'ntfy', token: 'env:NTFY_TOKEN' }] } },
        { env: { NTFY_TOKEN: 'tk_ntfy-keys-test' } },
      );
      await runWebhookTest(webhookTestOptions({}), io);
      expect(hooks.received[0]?.headers.authorization).toBe('Bearer tk_ntfy-keys-test');
    },
  },
  {
    keys: ['webhooks.endpoints[].name'],
    async test(onFinished) {
      const hooks = await receiver(onFinished);
      const io = world(onFinished).io(
        { webhooks: { endpoints: [{ url: hooks.url, secret: 'env:HOOK_SECRET', name: 'ops' }] } },
        { env: { HOOK_SECRET: SECRET } },
      );
      await runWebhookTest(webhookTestOptions({ json: true }), io);
      expect(JSON.parse(io.out())).toEqual([
        expect.objectContaining({ endpoint: 'ops', outcome: 'delivered' }),
      ]);
    },
  },
  {
    keys: ['webhooks.endpoints[].events'],
    async test(onFinished) {
      const all = await receiver(onFinished);
      const retiredOnly = await receiver(onFinished);
      const h = await cliWith(onFinished, {
        webhooks: {
          endpoints: [
            { url: all.url, secret: 'env:HOOK_SECRET' },
            { url: retiredOnly.url, secret: 'env:HOOK_SECRET', events: ['provider_retired'] },
          ],
        },
      });
      const stale = h.seed();
      h.seed(); // a newer grant for the same account: the imported refresh token is dead
      await importInto(h, [stale.refreshToken]);
      const daemon = h.start(['run', '--no-server'], { env: { HOOK_SECRET: SECRET } });
      await all.waitFor((hook) => hook.json.type === 'needs_reauth');
      await stopDaemon(daemon); // lets deliveries under way finish
      expect(retiredOnly.attempts).toEqual([]);
    },
  },
  {
    keys: ['webhooks.maxAttempts'],
    async test(onFinished) {
      const failing = await receiver(onFinished, [500, 500, 500]);
      const h = await cliWith(onFinished, {
        webhooks: { endpoints: [{ url: failing.url, secret: 'env:HOOK_SECRET' }], maxAttempts: 1 },
      });
      const stale = h.seed();
      h.seed();
      await importInto(h, [stale.refreshToken]);
      const daemon = h.start(['run', '--no-server'], { env: { HOOK_SECRET: SECRET } });
      // The first failed attempt is the last: without a cap it would be "retrying" for retryForHours (24 h).
      const [line] = await daemon.waitFor(/^.*"msg":"webhook failed".*$/m, { timeoutMs: 20_000 });
      expect(JSON.parse(line)).toMatchObject({ event: 'needs_reauth', attempt: 1 });
      await stopDaemon(daemon);
    },
  },
  {
    keys: ['webhooks.retryForHours'],
    async test(onFinished) {
      const failing = await receiver(onFinished, Array(500).fill(500));
      const h = await cliWith(onFinished, {
        webhooks: {
          endpoints: [{ url: failing.url, secret: 'env:HOOK_SECRET' }],
          retryForHours: 0.0005, // 1.8 s
          retryBaseSeconds: 0.05,
        },
      });
      const stale = h.seed();
      h.seed();
      await importInto(h, [stale.refreshToken]);
      const daemon = h.start(['run', '--no-server'], { env: { HOOK_SECRET: SECRET } });
      // Retried until the window after the event closed, then given up: by default that is 24 h later.
      const [line] = await daemon.waitFor(/^.*"msg":"webhook failed".*$/m, { timeoutMs: 20_000 });
      const failed = JSON.parse(line) as { event: string; attempt: number; error: string };
      expect(failed).toMatchObject({ event: 'needs_reauth', error: 'HTTP 500' });
      expect(failed.attempt).toBeGreaterThan(1);
      await stopDaemon(daemon);
    },
  },
  {
    keys: ['webhooks.retryBaseSeconds'],
    async test(onFinished) {
      const hooks = await receiver(onFinished, [500]);
      const io = world(onFinished).io(
        { webhooks: { endpoints: [{ url: hooks.url, secret: 'env:HOOK_SECRET' }], retryBaseSeconds: 0.05 } },
        { env: { HOOK_SECRET: SECRET } },
      );
      await runWebhookTest(webhookTestOptions({ attempts: '2', json: true }), io);
      const [first, second] = JSON.parse(io.out()) as Array<{ outcome: string; nextAttemptInMs?: number }>;
      expect(first).toMatchObject({ outcome: 'retrying' });
      expect(first?.nextAttemptInMs).toBeLessThanOrEqual(50); // the default base is 2 s
      expect(second).toMatchObject({ outcome: 'delivered' });
    },
  },
  {
    keys: ['webhooks.retryMaxSeconds'],
    async test(onFinished) {
      const hooks = await receiver(onFinished, [500]);
      const io = world(onFinished).io(
        { webhooks: { endpoints: [{ url: hooks.url, secret: 'env:HOOK_SECRET' }], retryMaxSeconds: 0.01 } },
        { env: { HOOK_SECRET: SECRET } },
      );
      await runWebhookTest(webhookTestOptions({ attempts: '2', json: true }), io);
      const [first] = JSON.parse(io.out()) as Array<{ outcome: string; nextAttemptInMs?: number }>;
      expect(first).toMatchObject({ outcome: 'retrying' });
      expect(first?.nextAttemptInMs).toBeLessThanOrEqual(10);
    },
  },
  {
    keys: ['webhooks.timeoutSeconds'],
    async test(onFinished) {
      const url = await webhookReceiverThatNeverAnswers(onFinished);
      const io = world(onFinished).io(
        { webhooks: { endpoints: [{ url, secret: 'env:HOOK_SECRET' }], timeoutSeconds: 0.2 } },
        { env: { HOOK_SECRET: SECRET } },
      );
      expect(await runWebhookTest(webhookTestOptions({ json: true }), io)).toBe(1);
      expect(JSON.parse(io.out())).toEqual([
        expect.objectContaining({ outcome: 'failed', error: 'no answer within 200 ms' }),
      ]);
    },
  },
];

describe('config keys', () => {
  it('every key of the schema has a row', () => {
    const keys = schemaKeys((configSchema as unknown as { _zod: { def: SchemaDef } })._zod.def);
    expect(rows.flatMap((row) => row.keys).sort()).toEqual(keys.sort());
  });
});

describe.concurrent('each config key takes effect', () => {
  it.for(rows.map((row) => [row.keys.join(' + '), row] as const))(
    '%s',
    async ([, row], { onTestFinished }) => {
      await row.test(onTestFinished);
    },
  );
});
