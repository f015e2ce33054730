import { describe, expect, it } from 'vitest';
import type { ConnectionStore } from '../../src/stores/store.ts';
import { FlakyStore, fitbitHarness } from '../engine/setup.ts';
import { usePostgres } from '../postgres/setup.ts';
import { rejection } from '../support/rejection.ts';

/** FlakyStore with the change stamp of the store it wraps, so the keeper keeps tokens in memory. */
class StampedFlakyStore extends FlakyStore {
  changeStamp(name: string): Promise<string | undefined> {
    const { inner } = this;
    if (!inner.changeStamp) throw new Error('the wrapped store has no change stamp');
    return inner.changeStamp(name);
  }
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; !(await condition()); tries++) {
    if (tries > 500) throw new Error('condition never held');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const pg = usePostgres();

/**
 * The store under the flaky wrapper, given the harness's SQLite store. SQLite's stamp covers the whole file (a
 * lock release moves it too); PostgreSQL's is the connection's row alone, so there only the keeper's own rule (an
 * unfinished attempt is never kept) keeps a read made during a refresh from outliving the rotation.
 */
const stores: Array<[string, () => Promise<(sqlite: ConnectionStore) => ConnectionStore>]> = [
  ['SQLite', async () => (sqlite) => sqlite],
  [
    'PostgreSQL',
    async () => {
      const postgres = await pg.openStore();
      return (sqlite) => {
        void sqlite.close();
        return postgres;
      };
    },
  ],
];

describe.each(stores)('the token API from memory during a store outage (%s)', (_, storeOf) => {
  it('never serves from memory a token read while a refresh was under way whose new tokens went to the rescue journal', async () => {
    let latencyMs = 0;
    const harness = await fitbitHarness({ sim: { graceMs: 0, latencyMs: () => latencyMs } });
    const pick = await storeOf();
    let flaky: StampedFlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (sqlite) => (flaky = new StampedFlakyStore(pick(sqlite))),
      settings: { saveRetryMs: 300 },
    });
    const { name } = await harness.addConnection(keeper, { withAccessToken: true });
    const store = flaky as StampedFlakyStore;
    const before = await keeper.accessTokenDetails(name);
    const same = async () => (await keeper.accessTokenDetails(name)).accessToken === before.accessToken;
    expect(await same(), 'a second read serves the same token').toBe(true);

    // The store takes no new tokens; the refresh writes its write-ahead record, then waits on the provider.
    store.failures = Infinity;
    latencyMs = 400;
    const refresh = rejection(keeper.refresh(name, { force: true }));
    await until(async () => (await store.inner.get(name))?.pending !== undefined);
    // Read while the attempt is unfinished and nothing is in the journal yet: the stored token is still the one.
    expect(await same(), 'the stored token is served during the refresh').toBe(true);
    expect((await refresh).code).toBe('store');
    latencyMs = 0;

    // The rotated tokens are only in the rescue journal: the old access token may be revoked, so it is not served.
    const served = await same().catch(() => false);
    expect(served, 'the access token from before the refresh is served').toBe(false);
    await keeper.idle();
  });
});
