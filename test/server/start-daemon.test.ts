import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { KeeperEvent } from '../../src/core/events.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { startDaemon } from '../../src/daemon/start-daemon.ts';
import { createHarness } from '../cli/harness.ts';
import { openDaemonKeeper } from './in-process.ts';

describe.concurrent('startDaemon (`tokenkeeper run` as a library call)', () => {
  it('refreshes what falls due and serves until stop(), which closes the server and leaves the keeper open', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, {
      sim: { accessTokenLifetimeSeconds: 4 },
      config: { refresh: { marginSeconds: 2 }, daemon: { maxSleepSeconds: 1 } },
    });
    const d = await openDaemonKeeper(h, onTestFinished);
    await d.addConnection('me');
    const refreshed = new Promise<KeeperEvent>((resolve) =>
      d.keeper.onEvent((event) => event.type === 'refreshed' && resolve(event)),
    );
    const daemon = await startDaemon(d.keeper, { logger: silentLogger, listen: '127.0.0.1:0', env: h.env });
    expect(daemon.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await daemon.server?.inject('/readyz');
    expect(ready?.json()).toMatchObject({ status: 'ready', connections: 1 });
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    expect(await refreshed).toMatchObject({ name: 'me' });

    const stats = await daemon.stop();
    expect(stats.refreshed).toBeGreaterThanOrEqual(1);
    expect(stats.failed).toBe(0);
    expect(await daemon.done).toBe(stats);
    await expect(fetch(`${daemon.url}/healthz`)).rejects.toThrow();
    expect((await d.keeper.get('me'))?.status).toBe('active');
  });

  it('without a server it only refreshes, and stops by itself after durationMs', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    const daemon = await startDaemon(d.keeper, { logger: silentLogger, server: false, durationMs: 100 });
    expect(daemon.url).toBeUndefined();
    expect(daemon.server).toBeUndefined();
    expect(await daemon.done).toEqual({ refreshed: 0, failed: 0 });
  });

  it('refuses an address that is taken, saying what to do', async ({ onTestFinished }) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const { port } = taken.address() as AddressInfo;
    const h = await createHarness(onTestFinished);
    const d = await openDaemonKeeper(h, onTestFinished);
    await expect(
      startDaemon(d.keeper, { logger: silentLogger, listen: `127.0.0.1:${port}` }),
    ).rejects.toMatchObject({
      code: 'usage',
      message: `cannot listen on 127.0.0.1:${port}: the port is in use; pass --listen with a free port, or --no-server`,
    });
  });
});
