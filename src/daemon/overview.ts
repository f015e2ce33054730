import type { Keeper } from '../keeper/keeper.ts';

/**
 * What `tokenkeeper run` logs at start: how many connections and when the next one is due. Stores that can tell
 * without reading secrets (PostgreSQL) answer with one query; otherwise every connection is read, as before.
 */
export async function scheduleOverview(
  keeper: Keeper,
): Promise<{ connections: number; nextRefreshAt?: number }> {
  if (keeper.store.overview) return keeper.store.overview();
  const connections = await keeper.status();
  const next = connections
    .map((c) => c.nextRefreshAt)
    .filter((at): at is number => at !== undefined)
    .sort((a, b) => a - b)[0];
  return { connections: connections.length, nextRefreshAt: next };
}
