import { describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import type { Logger } from '../../src/core/logger.ts';
import { createKeeper } from '../../src/keeper/keeper.ts';
import { fitbitHarness, stored } from './setup.ts';

describe('event listeners', () => {
  it('a listener that throws is logged; the refresh still succeeds and the other listeners still hear', async ({
    onTestFinished,
  }) => {
    const harness = await fitbitHarness();
    const logged: Array<{ fields: object; message: string }> = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (fields, message) => logged.push({ fields, message }),
    };
    const keeper = await createKeeper({
      config: harness.config,
      env: harness.env,
      logger,
      onEvent: () => {
        throw new Error('listener bug');
      },
    });
    onTestFinished(() => keeper.close());
    const heard: KeeperEvent[] = [];
    keeper.onEvent((event) => heard.push(event));
    const { name, grant } = await harness.addConnection(keeper);

    const summary = await keeper.refresh(name);

    expect(summary.status).toBe('active');
    const saved = await stored(keeper, name);
    expect(saved.tokens.refreshToken).not.toBe(grant.refreshToken);
    expect(saved.tokens.refreshToken).toBe(harness.sim.activeRefreshToken(grant.userId));
    expect(heard.map((event) => event.type)).toContain('refreshed');
    expect(logged).toContainEqual({
      fields: expect.objectContaining({ event: 'refreshed', connection: name, error: 'listener bug' }),
      message: 'an event listener threw; ignored',
    });
  });
});
