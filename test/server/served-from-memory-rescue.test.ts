import { describe, expect, it } from 'vitest';
import { FlakyStore, fitbitHarness } from '../engine/setup.ts';
import { rejection } from '../support/rejection.ts';

/** FlakyStore with the change stamp of the SQLite store it wraps, so the keeper keeps tokens in memory. */
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

describe('the token API from memory during a store outage', () => {
  it('never serves from memory a token read while a refresh was under way whose new tokens went to the rescue journal', async () => {
    let latencyMs = 0;
    const harness = await fitbitHarness({ sim: { graceMs: 0, latencyMs: () => latencyMs } });
    let flaky: StampedFlakyStore | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (flaky = new StampedFlakyStore(inner)),
      settings: { saveRetryMs: 300 },
    });
    const { name } = await harness.addConnection(keeper, { withAccessToken: true });
    const store = flaky as StampedFlakyStore;
    const before = await keeper.accessTokenDetails(name);
    expect((await keeper.accessTokenDetails(name)).accessToken).toBe(before.accessToken);

    // The store takes no new tokens; the refresh writes its write-ahead record, then waits on the provider.
    store.failures = Infinity;
    latencyMs = 400;
    const refresh = rejection(keeper.refresh(name, { force: true }));
    await until(async () => (await store.inner.get(name))?.pending !== undefined);
    // Read while the attempt is unfinished and nothing is in the journal yet: the stored token is still the one.
    expect((await keeper.accessTokenDetails(name)).accessToken).toBe(before.accessToken);
    expect((await refresh).code).toBe('store');
    latencyMs = 0;

    // The rotated tokens are only in the rescue journal: the old access token may be revoked, so it is not served.
    const after = await keeper.accessTokenDetails(name).then(
      (details) => details.accessToken,
      (error: Error) => error.message,
    );
    expect(after).not.toBe(before.accessToken);
    await keeper.idle();
  });
});
