import { describe, expect, it } from 'vitest';
import {
  createHarness,
  DEFAULT_USER,
  expectSuccess,
  lines,
  logRecords,
  runIsolated as run,
  SIM_TOKEN_PATTERN,
  statusJson,
} from './harness.ts';

describe.concurrent('tokenkeeper run', () => {
  it('refreshes a short-lived connection on its own and stops after --duration', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, {
      sim: { accessTokenLifetimeSeconds: 4 },
      config: { refresh: { marginSeconds: 2 }, daemon: { maxSleepSeconds: 1 } },
    });
    await h.addConnection('me');
    const successes = h.sim.stats.refreshSuccesses;
    const imported = h.sim.activeRefreshToken(DEFAULT_USER);

    const result = expectSuccess(await h.cli(['run', '--duration', '6'], { timeoutMs: 15_000 }));
    expect(result.durationMs).toBeGreaterThanOrEqual(5_900); // ran its duration (a run killed at 15 s fails above)
    const records = logRecords(result.stderr);
    expect(records.find((r) => r.msg === 'tokenkeeper running')).toMatchObject({ connections: 1 });
    const refreshed = records.filter((r) => r.msg === 'refreshed' && r.connection === 'me');
    expect(refreshed.length).toBeGreaterThanOrEqual(1);
    expect(h.sim.stats.refreshSuccesses - successes).toBe(refreshed.length);
    expect(h.sim.stats.invalidGrant).toBe(0);
    expect(h.sim.activeRefreshToken(DEFAULT_USER)).not.toBe(imported);
    expect(records.find((r) => r.msg === 'stopped')).toMatchObject({
      refreshed: refreshed.length,
      failed: 0,
    });

    // What the daemon saved is the live pair: the next refresh by another process works.
    expect((await statusJson(h))[0]?.status).toBe('active');
    expectSuccess(await h.cli(['refresh', 'me', '--force']));
  });

  it('prints one ready line once it serves on the port it picked, and exits 0 promptly on SIGTERM', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished, { config: { daemon: { maxSleepSeconds: 30 } } });
    await h.addConnection('me');
    const daemon = h.start(['run', '--listen', '127.0.0.1:0'], { timeoutMs: 15_000 });
    const [, url] = await daemon.waitFor(/^ready (http:\/\/127\.0\.0\.1:\d+)\n/, { stream: 'stdout' });
    expect(daemon.stdout()).toBe(`ready ${url}\n`);
    await daemon.waitFor(/"msg":"tokenkeeper running"/);
    expect(await (await fetch(`${url}/readyz`)).json()).toMatchObject({ status: 'ready', connections: 1 });
    daemon.child.kill('SIGTERM');
    // The scheduler sleeps up to 30 s: a daemon that waits for its sleep to end before stopping is cut off here.
    const cutOff = new Promise<never>((_, reject) => {
      const timer = setTimeout(
        () => reject(new Error('tokenkeeper run did not exit within 10 s of SIGTERM')),
        10_000,
      );
      void daemon.done.finally(() => clearTimeout(timer));
    });
    const result = await Promise.race([daemon.done, cutOff]);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/"signal":"SIGTERM".*"msg":"stopping: finishing in-flight refreshes"/);
    expect(result.stderr).toMatch(/"msg":"stopped"/);
  });

  it('rejects a non-positive --duration', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const result = await h.cli(['run', '--duration', '-1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--duration must be a positive number of seconds/);
  });
});

describe.concurrent('tokenkeeper demo', () => {
  it('keeps a simulated connection alive, showing each refresh without secrets', async ({
    onTestFinished,
  }) => {
    const result = await run(['demo', '--duration', '8', '--lifetime', '3'], onTestFinished, 20_000);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/connected "demo-me"/);
    const refreshed = lines(result.stdout).filter((line) =>
      / refreshed: refresh token #\w+ -> #\w+/.test(line),
    );
    expect(refreshed.length).toBeGreaterThanOrEqual(2);
    expect(result.stdout).not.toMatch(SIM_TOKEN_PATTERN);
    expect(result.stderr).not.toMatch(SIM_TOKEN_PATTERN);
  });

  it('rejects --duration 0 and --lifetime abc', async ({ onTestFinished }) => {
    const zero = await run(['demo', '--duration', '0'], onTestFinished);
    expect(zero.code).toBe(2);
    expect(lines(zero.stderr)).toEqual([
      'tokenkeeper: error: --duration must be a positive number of seconds, got "0"',
    ]);
    expect(zero.stdout).toBe('');
    const nan = await run(['demo', '--lifetime', 'abc'], onTestFinished);
    expect(nan.code).toBe(2);
    expect(nan.stderr).toMatch(/--lifetime must be a positive number of seconds, got "abc"/);
  });
});
