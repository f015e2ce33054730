import type { PgFixture } from '../postgres/setup.ts';
import { ringA, type StoreCapabilities, type StoreFixture } from './contract.ts';

export const postgresCapabilities: StoreCapabilities = {
  sealing: 'envelope',
  rotation: 'on-write',
  deadHolderTakeover: true,
  lockedWrites: true,
};

/** A fresh schema on the test file's throwaway cluster (usePostgres closes the stores it opened). */
export async function postgresFixture(pg: PgFixture): Promise<StoreFixture> {
  const url = pg.storeUrl();
  const schema = new URL(url).searchParams.get('schema') as string;
  const rows = (table: string) => pg.sql(`SELECT * FROM ${schema}.${table} ORDER BY 1`);
  return {
    open: (ring = ringA) => pg.openStore(url, ring),
    snapshot: async () => ({ connections: await rows('connections'), meta: await rows('meta') }),
    atRest: async () => JSON.stringify(await rows('connections')),
    async copyStored(from, to) {
      await pg.sql(
        `UPDATE ${schema}.connections SET ${to.column} = (SELECT ${from.column} FROM ${schema}.connections WHERE name = $1) WHERE name = $2`,
        [from.name, to.name],
      );
    },
    storedRow: async (name) =>
      (await pg.sql(`SELECT * FROM ${schema}.connections WHERE name = $1`, [name]))[0],
    shortLockTtlMs: 50,
    // The lock's expiry is on the database clock: the contract tries again until it has passed there.
    letLockLapse: async () => undefined,
    async plantLockHolder(name, { host, pid }) {
      await pg.sql(
        `INSERT INTO ${schema}.locks (name, owner, host, pid, fence, expires_at) VALUES ($1, 'crashed', $2, $3, 7, $4)
         ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, host = EXCLUDED.host, pid = EXCLUDED.pid,
           expires_at = EXCLUDED.expires_at`,
        [name, host, pid, Date.now() + 3_600_000],
      );
    },
    close: async () => undefined,
  };
}
