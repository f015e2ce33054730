import { describe, expect, it } from 'vitest';
import type { Keyring } from '../../src/crypto/envelope.ts';
import type { RescueJournal } from '../../src/stores/rescue-journal.ts';
import { FlakyStore, fitbitHarness, rejection, sharedTestJournal } from './setup.ts';

/** A store with a shared journal (as Key Vault has in blob storage) whose storage can become unreachable. */
class StoreWithSharedJournal extends FlakyStore {
  readonly journal = { down: false };

  openRescueJournal(_keyring: Keyring): RescueJournal {
    return sharedTestJournal(this.journal);
  }
}

describe('a store whose shared rescue journal is out of reach', () => {
  it('a usable stored token is still served; a refresh refuses to spend the refresh token unchecked', async () => {
    const harness = await fitbitHarness();
    let store: StoreWithSharedJournal | undefined;
    const keeper = await harness.openKeeper({
      wrapStore: (inner) => (store = new StoreWithSharedJournal(inner)),
    });
    const { name, grant } = await harness.addConnection(keeper, { withAccessToken: true });
    (store as StoreWithSharedJournal).journal.down = true;

    expect(await keeper.accessToken(name)).toBe(grant.accessToken);
    const error = await rejection(keeper.refresh(name, { force: true }));
    expect(error.message).toMatch(/shared journal storage unreachable/);
    expect(harness.sim.stats.refreshRequests).toBe(0);
  });
});
