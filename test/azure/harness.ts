import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { InvocationContext, type Timer } from '@azure/functions';
import { afterAll, beforeAll } from 'vitest';
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { BlobServiceClient } from '@azure/storage-blob';
import type { ConfigFile } from '../../src/config/schema.ts';
import type { Clock } from '../../src/core/types.ts';
import type { FunctionAlerts } from '../../src/azure/alerts.ts';
import { createFunctionKeeper } from '../../src/azure/function-keeper.ts';
import type { Logger } from '../../src/core/logger.ts';
import type { FunctionSettings } from '../../src/azure/settings.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import {
  startSimulatedFitbit,
  type SeededGrant,
  type SimulatedFitbit,
  type FitbitSimulatorOptions,
} from '../fakes/index.ts';
import {
  createTestCertificate,
  startFakeEntra,
  startFakeKeyVault,
  type FakeEntra,
  type FakeKeyVault,
  type TestCertificate,
} from '../fakes/keyvault/index.ts';
import { startAzurite, type Azurite } from './azurite.ts';

export const KEY = 'c0ffee00'.repeat(8);
const systemCas = tls.getCACertificates('default');

/** Trusts the fake vault's self-signed certificate in this process (subprocesses get NODE_EXTRA_CA_CERTS). */
export function trustCertificate(certificate: TestCertificate): void {
  tls.setDefaultCACertificates([...systemCas, certificate.cert]);
}

export interface AzureWorld {
  kv: FakeKeyVault;
  /** Where the real @azure/identity of subprocesses (childEnv) signs in for the vault's token. */
  entra: FakeEntra;
  /** The vault's token as a credential, injected into in-process stores and keepers. */
  credential: TokenCredential;
  sim: SimulatedFitbit;
  azurite: Azurite;
  home: string;
  /** keyvault://127.0.0.1:PORT */
  storeSpec: string;
  /** Environment for in-process keepers and functions (no process.env inheritance). */
  env: NodeJS.ProcessEnv;
  /** Environment for subprocesses: process.env plus the above, the fake Entra sign-in and NODE_EXTRA_CA_CERTS. */
  childEnv: NodeJS.ProcessEnv;
  config: ConfigFile;
  /** A real SDK client on the fake vault, for assertions. */
  secrets: SecretClient;
  /** Writes the seed C# function's three secrets for a fresh grant at the simulator. */
  seedLikeCSharp(options?: { userId?: string; withAccessToken?: boolean }): SeededGrant;
  /** A keeper of one "Functions instance" (the function's own keeper factory) with an optional clock. */
  functionKeeper(options?: {
    clock?: Clock;
    schedule?: string;
    refresh?: ConfigFile['refresh'];
    /** App settings on top of `env` (e.g. TOKENKEEPER_WEBHOOK_*). */
    appSettings?: NodeJS.ProcessEnv;
    alerts?: FunctionAlerts;
    logger?: Logger;
    /** This instance's own data dir (Flex Consumption: no disk shared between instances); default `home`. */
    dataDir?: string;
  }): Promise<Keeper>;
  /** Revokes the user's grant at the simulator, as a user removing the app's access does. */
  revokeGrant(token: string): Promise<void>;
  /** Names and contents of the rescue journal's blobs (`rescue/…` in the lock container), oldest first. */
  rescueBlobs(): Promise<Array<{ name: string; content: string }>>;
  /** A keeper as the CLI opens it (createKeeper with --store keyvault://…). */
  cliKeeper(options?: { clock?: Clock }): Promise<Keeper>;
  close(): Promise<void>;
}

export interface WorldOptions {
  sim?: FitbitSimulatorOptions;
  refresh?: ConfigFile['refresh'];
  /** Reuse an Azurite across tests of one file. */
  azurite?: Azurite;
  certificate?: TestCertificate;
}

export async function startAzureWorld(options: WorldOptions = {}): Promise<AzureWorld> {
  const certificate = options.certificate ?? createTestCertificate();
  trustCertificate(certificate);
  const kv = await startFakeKeyVault({ certificate });
  const entra = await startFakeEntra({ certificate, accessToken: kv.acceptedToken });
  const credential: TokenCredential = {
    getToken: async () => ({ token: kv.acceptedToken, expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
  const sim = await startSimulatedFitbit({ userId: 'SEED01', rateLimitPerHour: 1_000_000, ...options.sim });
  const azurite = options.azurite ?? (await startAzurite());
  const home = mkdtempSync(join(tmpdir(), 'tk-azure-'));
  // The seed user names the connection kept under the seed secret names, so tokenkeeper may take them over.
  const storeSpec = `keyvault://${kv.host}?seed=fitbit`;
  const env: NodeJS.ProcessEnv = {
    AzureWebJobsStorage: azurite.connectionString,
    TOKENKEEPER_HOME: home,
    TOKENKEEPER_KEY: KEY,
  };
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    ...entra.env,
    NODE_EXTRA_CA_CERTS: certificate.certPath,
  };
  delete childEnv.TOKENKEEPER_STORE;
  delete childEnv.TOKENKEEPER_CONFIG;
  const config: ConfigFile = {
    providers: { fitbit: { tokenUrl: sim.tokenUrl, revokeUrl: sim.revokeUrl } },
    refresh: { timeoutSeconds: 5, ...options.refresh },
  };
  const secrets = new SecretClient(kv.url, credential, { disableChallengeResourceVerification: true });
  const keepers: Keeper[] = [];
  const settingsFor = (schedule?: string, dataDir?: string): FunctionSettings => ({
    store: storeSpec,
    schedule: schedule ?? '0 */15 * * * *',
    dataDir: dataDir ?? home,
  });

  return {
    kv,
    entra,
    credential,
    sim,
    azurite,
    home,
    storeSpec,
    env,
    childEnv,
    config,
    secrets,
    seedLikeCSharp(seedOptions = {}) {
      const grant = sim.seedGrant({ userId: seedOptions.userId ?? 'SEED01' });
      kv.seed('FitbitCredentials', Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64'));
      kv.seed('RefreshToken', grant.refreshToken);
      if (seedOptions.withAccessToken) kv.seed('AccessToken', grant.accessToken);
      return grant;
    },
    async functionKeeper(keeperOptions = {}) {
      const keeper = await createFunctionKeeper({
        env: { ...env, ...keeperOptions.appSettings },
        settings: settingsFor(keeperOptions.schedule, keeperOptions.dataDir),
        config: keeperOptions.refresh
          ? { ...config, refresh: { ...config.refresh, ...keeperOptions.refresh } }
          : config,
        ...(keeperOptions.clock && { clock: keeperOptions.clock }),
        ...(keeperOptions.alerts && { alerts: keeperOptions.alerts }),
        ...(keeperOptions.logger && { logger: keeperOptions.logger }),
        azureCredential: credential,
      });
      keepers.push(keeper);
      return keeper;
    },
    async revokeGrant(token) {
      const response = await fetch(sim.revokeUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }),
      });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`revoke answered ${response.status}`);
    },
    async rescueBlobs() {
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        'tokenkeeper-locks',
      );
      if (!(await container.exists())) return [];
      const blobs: Array<{ name: string; content: string; createdOn: number }> = [];
      for await (const item of container.listBlobsFlat({ prefix: 'rescue/' })) {
        const content = (await container.getBlockBlobClient(item.name).downloadToBuffer()).toString('utf8');
        blobs.push({ name: item.name, content, createdOn: item.properties.createdOn?.getTime() ?? 0 });
      }
      blobs.sort((a, b) => a.createdOn - b.createdOn);
      return blobs.map(({ name, content }) => ({ name, content }));
    },
    async cliKeeper(keeperOptions = {}) {
      const keeper = await createKeeper({
        config,
        store: storeSpec,
        env,
        ...(keeperOptions.clock && { clock: keeperOptions.clock }),
        azureCredential: credential,
      });
      keepers.push(keeper);
      return keeper;
    },
    async close() {
      for (const keeper of keepers.splice(0)) await keeper.close().catch(() => undefined);
      await sim.close();
      await entra.close();
      await kv.close();
      if (!options.azurite) await azurite.stop();
      if (!options.certificate) certificate.dispose();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * One Azurite and one test certificate for the tests of a describe block, started before them and stopped after;
 * `world()` starts an Azure world on them (each test its own vault and simulator).
 */
export function sharedAzure(): {
  world(options?: Omit<WorldOptions, 'azurite' | 'certificate'>): Promise<AzureWorld>;
} {
  let azurite: Azurite | undefined;
  let certificate: TestCertificate | undefined;
  beforeAll(async () => {
    azurite = await startAzurite();
    certificate = createTestCertificate();
  });
  afterAll(async () => {
    await azurite?.stop();
    certificate?.dispose();
  });
  return {
    world(options = {}) {
      if (!azurite || !certificate)
        throw new Error('sharedAzure().world() runs inside the tests it was declared for');
      return startAzureWorld({ ...options, azurite, certificate });
    },
  };
}

/** A real InvocationContext whose log lines are collected. */
export function invocation(functionName: string): { context: InvocationContext; logs: string[] } {
  const logs: string[] = [];
  const context = new InvocationContext({
    functionName,
    invocationId: `test-${Math.random().toString(36).slice(2)}`,
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`),
  });
  return { context, logs };
}

export function timerFiring(isPastDue = false): Timer {
  const now = new Date().toISOString();
  return {
    isPastDue,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: now, next: now, lastUpdated: now },
  };
}

/** A clock the test moves by hand (keepers decide "due" with it; locks use real time). */
export function manualClock(
  start = Date.now(),
): Clock & { set(ms: number): void; advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    set: (ms) => void (now = ms),
    advance: (ms) => void (now += ms),
  };
}

/** All versions of a secret through the real SDK, oldest first, with their values. */
export async function secretHistory(
  client: SecretClient,
  name: string,
): Promise<Array<{ version: string; value: string }>> {
  const versions: Array<{ version: string; createdOn: number }> = [];
  for await (const properties of client.listPropertiesOfSecretVersions(name)) {
    versions.push({ version: properties.version ?? '', createdOn: properties.createdOn?.getTime() ?? 0 });
  }
  const values = await Promise.all(
    versions.map(async (entry) => ({
      version: entry.version,
      value: (await client.getSecret(name, { version: entry.version })).value ?? '',
    })),
  );
  return values;
}
