import type { NewConnection } from '../../src/core/types.ts';
import type { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';

/** What seeding needs of a provider: the simulated Fitbit, or the benchmark's leaner fake. */
export interface SeedableProvider {
  clientId: string;
  clientSecret?: string;
  seedGrant(options: { userId: string }): { refreshToken: string; userId: string; scope: string };
}

export function userIdOf(index: number): string {
  return `U${String(index).padStart(6, '0')}`;
}

export function connectionNameOf(index: number): string {
  return `user-${String(index).padStart(6, '0')}`;
}

/**
 * Consents `count` users at the simulated Fitbit and imports each refresh token as a connection with no access
 * token yet, so every one of them is due at once.
 */
export async function seedDueConnections(
  store: PostgresStore,
  sim: SeedableProvider,
  count: number,
  options: { from?: number; onProgress?: (done: number) => void } = {},
): Promise<void> {
  const from = options.from ?? 0;
  const batch = 5_000;
  for (let start = from; start < from + count; start += batch) {
    const connections: NewConnection[] = [];
    for (let i = start; i < Math.min(from + count, start + batch); i++) {
      const grant = sim.seedGrant({ userId: userIdOf(i) });
      connections.push({
        name: connectionNameOf(i),
        provider: 'fitbit',
        grant: 'refresh_token',
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
        tokens: { refreshToken: grant.refreshToken, providerUserId: grant.userId, scope: grant.scope },
        status: 'active',
        failureCount: 0,
      });
    }
    await store.insertMany(connections);
    options.onProgress?.(Math.min(from + count, start + batch) - from);
  }
}
