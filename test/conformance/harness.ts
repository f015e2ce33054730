import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigFile, ProviderSettings } from '../../src/config/schema.ts';
import type { Connection } from '../../src/core/types.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { builtInProviders } from '../../src/providers/catalog.ts';
import type { RotationRule } from '../../src/providers/types.ts';
import type { Fault, SimulatedFitbit, SimulatedGoogle, SimulatedOAuthProvider } from '../fakes/index.ts';

export const KEY = '0123456789abcdef'.repeat(4);

/**
 * The documented facts a provider must show, in the catalog's vocabulary: built-in providers' come from their
 * catalog entry (one source for product, simulators and this table); a user-defined provider states its own.
 */
export interface ProviderFacts {
  rotation: RotationRule;
  /** How long a spent refresh token still works (until the new access token is used). */
  spentTokenGraceMs?: number;
  accessTokenLifetimeMs: number;
  /** Refresh responses name the account. */
  accountInRefresh: boolean;
}

/** A built-in provider's facts from its catalog entry, for a confidential or a public client. */
export function catalogFacts(providerId: string, publicClient = false): ProviderFacts {
  const provider = builtInProviders.find((entry) => entry.id === providerId);
  if (!provider?.accessTokenLifetimeMs) {
    throw new Error(`the catalog entry of ${providerId} states no access-token lifetime`);
  }
  return {
    rotation: (publicClient ? provider.publicClientRotation : undefined) ?? provider.rotation,
    spentTokenGraceMs: provider.spentTokenGraceMs,
    accessTokenLifetimeMs: provider.accessTokenLifetimeMs,
    accountInRefresh: provider.accountId?.everyRefresh ?? false,
  };
}

/** What the conformance table needs from a fake provider; the catalog simulators have it all. */
export interface ConformanceSim {
  readonly url: string;
  readonly authorizeUrl: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly stats: { refreshRequests: number; tokenRequests: number; faultsServed: number };
  /** The token requests as received (absent for the seed's Fitbit and Google simulators). */
  readonly tokenRequests?: ReadonlyArray<{
    grantType?: string;
    clientAuth: string;
    params: Record<string, string>;
  }>;
  seedGrant(options: { userId: string; publicClient?: boolean }): { refreshToken: string; userId: string };
  activeRefreshToken(userId: string): string | undefined;
  revokeUser(userId: string): Promise<void>;
  useAccessToken(accessToken: string): Promise<boolean>;
  /** The user approves a device code on the verification page (device-flow providers only). */
  approveDevice?(userCode: string, userId?: string): boolean;
  inject(fault: Fault, times?: number): void;
  clearFaults(): void;
  close(): Promise<void>;
}

export interface ConformanceTarget {
  /** Title of the suite (defaults to the provider id). */
  title?: string;
  /** The tokenkeeper provider id under test: built in, or user-defined in the config. */
  providerId: string;
  start(now: () => number): Promise<ConformanceSim>;
  /** The config entry pointing the provider at the fake (and, for user-defined ones, `extends`). */
  settings(sim: ConformanceSim): ProviderSettings;
  /** Only for a provider defined in config: its facts (built-in ones come from the catalog). */
  facts?: ProviderFacts;
  /** Connect as a public client (no secret). */
  publicClient?: boolean;
  /** Documented shape of a refresh request. */
  refreshRequest: { clientAuth: 'basic' | 'body' | 'none'; params?: Record<string, string> };
  /** Documented authorize parameters checked during connect. */
  authorize: { scopeSeparator: string; pkce: boolean; params?: Record<string, string> };
  /** Scopes for a client-credentials connection, for providers that offer it. */
  clientCredentialsScopes?: string[];
  device?: boolean;
}

/** A clock for the fake that real time drives and tests can push forward ("hours pass"). */
export function movableClock() {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms;
    },
  };
}

export interface KeeperFactory {
  open(refresh?: NonNullable<ConfigFile['refresh']>): Promise<Keeper>;
  cleanup(): Promise<void>;
}

/** Keepers on throwaway data dirs, configured against the fake: short timeouts, small body limit. */
export function keeperFactory(providerId: string, settings: () => ProviderSettings): KeeperFactory {
  const cleanups: Array<() => Promise<unknown>> = [];
  return {
    async open(refresh = {}) {
      const dir = await mkdtemp(join(tmpdir(), 'tokenkeeper-conformance-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const keeper = await createKeeper({
        config: {
          providers: { [providerId]: settings() },
          refresh: {
            timeoutSeconds: 1,
            maxAttempts: 1,
            maxResponseBytes: 16_384,
            defaultLifetimeSeconds: 1234,
            ...refresh,
          },
        },
        env: { TOKENKEEPER_HOME: dir, TOKENKEEPER_KEY: KEY },
      });
      cleanups.push(() => keeper.close());
      return keeper;
    },
    async cleanup() {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    },
  };
}

/** The stored connection with its secrets (test-only view of the store). */
export async function stored(keeper: Keeper, name: string): Promise<Connection> {
  const connection = await keeper.store.get(name);
  if (!connection) throw new Error(`connection ${name} is not in the store`);
  return connection;
}

/** Adapts a catalog simulator (everything is there already). */
export function fromOAuthSim(sim: SimulatedOAuthProvider): ConformanceSim {
  return {
    url: sim.url,
    authorizeUrl: sim.authorizeUrl,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    stats: sim.stats,
    tokenRequests: sim.tokenRequests,
    seedGrant: (options) => sim.seedGrant(options),
    activeRefreshToken: (userId) => sim.activeRefreshToken(userId),
    revokeUser: async (userId) => sim.revokeUser(userId),
    useAccessToken: (token) => sim.useAccessToken(token),
    approveDevice: (userCode, userId) => sim.approveDevice(userCode, userId),
    inject: (fault, times) => sim.inject(fault, times),
    clearFaults: () => sim.clearFaults(),
    close: () => sim.close(),
  };
}

/** Adapts the seed's Fitbit or Google simulator: revocation through its RFC 7009 endpoint, API via its profile URL. */
export function fromSeedSim(sim: SimulatedFitbit | SimulatedGoogle): ConformanceSim {
  return {
    url: sim.url,
    authorizeUrl: sim.authorizeUrl,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    stats: sim.stats,
    seedGrant: (options) => sim.seedGrant({ userId: options.userId }),
    activeRefreshToken: (userId) => sim.activeRefreshToken(userId),
    async revokeUser(userId) {
      const token = sim.activeRefreshToken(userId);
      if (!token) return;
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (sim.clientSecret) {
        headers.authorization = `Basic ${Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64')}`;
      }
      const response = await fetch(sim.revokeUrl, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ token }),
      });
      if (!response.ok) throw new Error(`revocation failed: HTTP ${response.status}`);
    },
    async useAccessToken(token) {
      const response = await fetch(sim.profileUrl, { headers: { authorization: `Bearer ${token}` } });
      await response.body?.cancel();
      return response.status === 200;
    },
    inject: (fault, times) => sim.inject(fault, times),
    clearFaults: () => sim.clearFaults(),
    close: () => sim.close(),
  };
}
