import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { resolveSettings } from '../../src/config/settings.ts';
import type { ConfigFile } from '../../src/config/schema.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { sleep } from '../../src/core/sleep.ts';
import type { RefreshSettings } from '../../src/engine/refresher.ts';
import { systemClock, type Clock, type Connection, type NewConnection } from '../../src/core/types.ts';
import { loadKeyring } from '../../src/crypto/key-source.ts';
import type { Keyring } from '../../src/crypto/envelope.ts';
import { createKeeper, Keeper, refreshSettingsFrom, type KeeperOptions } from '../../src/keeper/keeper.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import {
  FileRescueJournal,
  SharedRescueJournal,
  type RescueJournal,
} from '../../src/stores/rescue-journal.ts';
import { SqliteStore } from '../../src/stores/sqlite-store.ts';
import type { ConnectionStore, LockHandle } from '../../src/stores/store.ts';
import {
  startSimulatedFitbit,
  startSimulatedGoogle,
  type FitbitSimulatorOptions,
  type GoogleSimulatorOptions,
  type SeededGrant,
  type SimulatedFitbit,
  type SimulatedGoogle,
} from '../fakes/index.ts';
import { rejection } from '../support/rejection.ts';

/** A fixed 32-byte key (64 hex characters) so that tests never create a key file unless they mean to. */
export const KEY_A = '0123456789abcdef'.repeat(4);
export const KEY_B = 'fedcba9876543210'.repeat(4);

export type RefreshConfig = NonNullable<ConfigFile['refresh']>;

export interface HarnessOptions {
  refresh?: RefreshConfig;
  /** Extra env (e.g. another key); TOKENKEEPER_HOME and TOKENKEEPER_KEY are set unless overridden. */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /** Wraps the keeper's SQLite store (e.g. in a failing decorator). */
  wrapStore?: (store: SqliteStore) => ConnectionStore;
  /** Overrides of the refresh settings that config cannot set (builds the Keeper directly). */
  settings?: Partial<RefreshSettings>;
}

export interface Harness<Sim> {
  dir: string;
  env: NodeJS.ProcessEnv;
  sim: Sim;
  providerId: string;
  config: ConfigFile;
  /** Opens one more keeper on the same data dir (and store file). Closed automatically. */
  openKeeper(options?: HarnessOptions): Promise<Keeper>;
  /** Seeds a grant at the provider and imports its refresh token as connection `name`. */
  addConnection(
    keeper: Keeper,
    options?: { name?: string; userId?: string; clientSecret?: string; withAccessToken?: boolean },
  ): Promise<{ name: string; grant: SeededGrant }>;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  // Keepers first (they hold the store), then simulators, then temp dirs.
  const pending = cleanups.splice(0).reverse();
  for (const cleanup of pending) await cleanup().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenkeeper-engine-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function track(keeper: Keeper): Keeper {
  cleanups.push(() => keeper.close());
  return keeper;
}

export function providerConfig(
  providerId: string,
  sim: { tokenUrl: string; authorizeUrl: string; revokeUrl: string },
  refresh: RefreshConfig = {},
): ConfigFile {
  return {
    providers: {
      [providerId]: {
        tokenUrl: sim.tokenUrl,
        authorizationUrl: sim.authorizeUrl,
        revokeUrl: sim.revokeUrl,
      },
    },
    refresh,
  };
}

/** Opens a keeper the way createKeeper does, but with settings config cannot express (e.g. saveRetryMs). */
export async function openCustomKeeper(
  options: KeeperOptions & { config: ConfigFile; settings: Partial<RefreshSettings>; dataDir: string },
): Promise<Keeper> {
  const env = options.env ?? {};
  const keyring = loadKeyring({ dataDir: options.dataDir, env });
  const store =
    options.connectionStore ?? SqliteStore.open({ path: join(options.dataDir, 'tokenkeeper.db'), keyring });
  // What createKeeper would have resolved for this data dir, with the inline config.
  const loaded = resolveSettings({
    config: options.config,
    env: { ...env, TOKENKEEPER_HOME: options.dataDir },
    cwd: options.dataDir,
  });
  const keeper = new Keeper({
    loaded,
    providers: createProviderRegistry(options.config.providers),
    store,
    journal: journalFor(store, new FileRescueJournal(join(options.dataDir, 'rescue'), keyring), keyring),
    settings: { ...refreshSettingsFrom(loaded.refresh), ...options.settings },
    clock: options.clock ?? systemClock,
    logger: silentLogger,
  });
  if (options.onEvent) keeper.onEvent(options.onEvent);
  await keeper.replayRescued();
  return keeper;
}

/** The journal createKeeper would use: the store's shared one in front of the data dir's, if it has one. */
function journalFor(store: ConnectionStore, local: FileRescueJournal, keyring: Keyring): RescueJournal {
  const shared = store.openRescueJournal?.(keyring);
  return shared ? new SharedRescueJournal(shared, local) : local;
}

async function makeHarness<Sim extends SimulatedFitbit | SimulatedGoogle>(
  sim: Sim,
  providerId: string,
  refresh: RefreshConfig,
): Promise<Harness<Sim>> {
  cleanups.push(() => sim.close());
  const dir = await tempDir();
  const env: NodeJS.ProcessEnv = { TOKENKEEPER_HOME: dir, TOKENKEEPER_KEY: KEY_A };
  const config = providerConfig(providerId, sim, refresh);
  return {
    dir,
    env,
    sim,
    providerId,
    config,
    async openKeeper(options = {}) {
      const keeperConfig = options.refresh ? providerConfig(providerId, sim, options.refresh) : config;
      const keeperEnv = { ...env, ...options.env };
      if (options.settings || options.wrapStore) {
        const keyring = loadKeyring({ dataDir: dir, env: keeperEnv });
        const inner = SqliteStore.open({ path: join(dir, 'tokenkeeper.db'), keyring });
        const store = options.wrapStore ? options.wrapStore(inner) : inner;
        return track(
          await openCustomKeeper({
            config: keeperConfig,
            settings: options.settings ?? {},
            dataDir: dir,
            env: keeperEnv,
            connectionStore: store,
            clock: options.clock,
          }),
        );
      }
      return track(
        await createKeeper({
          config: keeperConfig,
          env: keeperEnv,
          ...(options.clock ? { clock: options.clock } : {}),
        }),
      );
    },
    async addConnection(keeper, options = {}) {
      const name = options.name ?? 'me';
      const grant = sim.seedGrant(options.userId ? { userId: options.userId } : {});
      await keeper.addConnection({
        name,
        provider: providerId,
        clientId: sim.clientId,
        clientSecret: options.clientSecret ?? sim.clientSecret,
        tokens: options.withAccessToken
          ? {
              refreshToken: grant.refreshToken,
              accessToken: grant.accessToken,
              expiresAt: Date.now() + grant.expiresIn * 1000,
              obtainedAt: Date.now(),
              scope: grant.scope,
              tokenType: 'Bearer',
              providerUserId: grant.userId,
            }
          : { refreshToken: grant.refreshToken },
      });
      return { name, grant };
    },
  };
}

export async function fitbitHarness(
  options: { sim?: FitbitSimulatorOptions; refresh?: RefreshConfig } = {},
): Promise<Harness<SimulatedFitbit>> {
  const sim = await startSimulatedFitbit({ userId: 'USER01', ...options.sim });
  return makeHarness(sim, 'fitbit', options.refresh ?? {});
}

export async function googleHarness(
  options: { sim?: GoogleSimulatorOptions; refresh?: RefreshConfig } = {},
): Promise<Harness<SimulatedGoogle>> {
  const sim = await startSimulatedGoogle(options.sim ?? {});
  return makeHarness(sim, 'google-health', options.refresh ?? {});
}

/** One Fitbit simulator, one keeper, one imported connection: the common start of an engine test. */
export async function fitbitWithConnection(
  options: {
    sim?: FitbitSimulatorOptions;
    refresh?: RefreshConfig;
    keeper?: HarnessOptions;
    connection?: { name?: string; clientSecret?: string; withAccessToken?: boolean };
  } = {},
) {
  const harness = await fitbitHarness(options);
  const keeper = await harness.openKeeper(options.keeper);
  const { name, grant } = await harness.addConnection(keeper, options.connection);
  return { ...harness, keeper, name, grant };
}

/** Sends a Bearer request to the simulated resource API and returns the HTTP status. */
export async function apiStatus(sim: { profileUrl: string }, accessToken: string): Promise<number> {
  const response = await fetch(sim.profileUrl, { headers: { authorization: `Bearer ${accessToken}` } });
  await response.arrayBuffer();
  return response.status;
}

/** A refresh sent straight to the simulated Fitbit token endpoint, as another (crashed) process would. */
export async function rawFitbitRefresh(
  sim: SimulatedFitbit,
  refreshToken: string,
  clientSecret = sim.clientSecret ?? '',
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const response = await fetch(sim.tokenUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${sim.clientId}:${clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: response.status, body, text };
}

/** The stored connection (secrets included), failing the test if it is missing. */
export async function stored(keeper: Keeper, name: string): Promise<Connection> {
  const connection = await keeper.store.get(name);
  if (!connection) throw new Error(`connection ${name} missing from the store`);
  return connection;
}

export { rejection };

/**
 * A ConnectionStore decorator around the real store whose `update` throws when it would save a token set that
 * differs from the stored one (i.e. the result of a refresh) while `failures` is above zero (Infinity = always).
 */
export class FlakyStore implements ConnectionStore {
  readonly inner: ConnectionStore;
  failures = 0;
  failed = 0;

  constructor(inner: ConnectionStore, failures = 0) {
    this.inner = inner;
    this.failures = failures;
  }

  get location(): string {
    return this.inner.location;
  }

  get(name: string): Promise<Connection | undefined> {
    return this.inner.get(name);
  }

  list(): Promise<Connection[]> {
    return this.inner.list();
  }

  insert(connection: NewConnection): Promise<Connection> {
    return this.inner.insert(connection);
  }

  async update(connection: Connection): Promise<Connection> {
    if (this.failures > 0) {
      const current = await this.inner.get(connection.name);
      const newTokens =
        current !== undefined &&
        (current.tokens.refreshToken !== connection.tokens.refreshToken ||
          current.tokens.accessToken !== connection.tokens.accessToken);
      if (newTokens) {
        this.failures--;
        this.failed++;
        throw new Error('simulated store outage: disk I/O error');
      }
    }
    return this.inner.update(connection);
  }

  delete(name: string): Promise<boolean> {
    return this.inner.delete(name);
  }

  tryLock(name: string, owner: string, ttlMs: number): Promise<LockHandle | undefined> {
    return this.inner.tryLock(name, owner, ttlMs);
  }

  renewLock(handle: LockHandle, ttlMs: number): Promise<boolean> {
    return this.inner.renewLock(handle, ttlMs);
  }

  releaseLock(handle: LockHandle): Promise<void> {
    return this.inner.releaseLock(handle);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A shared rescue journal that holds nothing (as Key Vault keeps one in blob storage), whose storage is unreachable
 * while `state.down` is set and whose reads take `state.readDelayMs`.
 */
export function sharedTestJournal(state: { down: boolean; readDelayMs?: number }): RescueJournal {
  const down = () => {
    if (state.down) throw new Error('shared journal storage unreachable');
  };
  return {
    location: 'shared test journal',
    write: async () => {
      down();
      return 'shared/1';
    },
    read: async () => {
      down();
      if (state.readDelayMs) await sleep(state.readDelayMs);
      return { entries: [], unreadable: [] };
    },
    remove: async () => down(),
  };
}
