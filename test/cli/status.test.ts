/**
 * `tokenkeeper status` on a store a keeper of this process filled: the refresh token's expiry in the table and
 * the JSON, `expiring_soon` inside the warning window, what to run below the table, and the exit code
 * (3 needs a human now, wins over 6 something expires soon, else 0).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStatus } from '../../src/cli/commands/status.ts';
import type { TokenSet } from '../../src/core/types.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { startSimulatedFitbit, type SimulatedFitbit } from '../fakes/index.ts';
import { lines, providerConfig, type OnFinished, type StatusJson } from './harness.ts';
import { captureIo } from './io.ts';

const KEY = 'fedcba9876543210'.repeat(4);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface StatusWorld {
  sim: SimulatedFitbit;
  /** A keeper on the world's store; close it before running `status`. */
  keeper: Keeper;
  /**
   * Adds a connection of `userId` whose refresh token dies at `refreshTokenExpiresAt` (undefined: it does not by
   * time), its token set obtained `obtainedAt` (default now); its access token is valid for 8 more hours.
   */
  add(
    name: string,
    options: { refreshTokenExpiresAt?: number; obtainedAt?: number; userId?: string },
  ): Promise<void>;
  /** Runs `status [name] [--json]` in this process against the world's store. */
  status(options?: { name?: string; json?: boolean }): Promise<{ code: number; out: string }>;
}

async function statusWorld(
  onFinished: OnFinished,
  fitbitSettings: Record<string, unknown> = {},
): Promise<StatusWorld> {
  const sim = await startSimulatedFitbit({ userId: 'USER01', graceMs: 0 });
  const root = mkdtempSync(join(tmpdir(), 'tokenkeeper-status-'));
  const home = join(root, 'home');
  mkdirSync(home, { mode: 0o700 });
  const env = { TOKENKEEPER_HOME: home, TOKENKEEPER_KEY: KEY, FITBIT_SECRET: sim.clientSecret };
  const config = { providers: { fitbit: { ...providerConfig(sim), ...fitbitSettings } } };
  const configPath = join(root, 'config.json');
  writeFileSync(configPath, JSON.stringify(config));
  const keeper = await createKeeper({ config, env });
  onFinished(async () => {
    await keeper.close().catch(() => undefined);
    await sim.close();
    rmSync(root, { recursive: true, force: true });
  });
  return {
    sim,
    keeper,
    async add(name, { refreshTokenExpiresAt, obtainedAt = Date.now(), userId = 'USER01' }) {
      const seed = sim.seedGrant({ userId });
      const tokens: TokenSet = {
        accessToken: seed.accessToken,
        refreshToken: seed.refreshToken,
        expiresAt: Date.now() + 8 * HOUR,
        obtainedAt,
        providerUserId: userId,
        ...(refreshTokenExpiresAt !== undefined && { refreshTokenExpiresAt }),
      };
      await keeper.addConnection({
        name,
        provider: 'fitbit',
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
        tokens,
      });
    },
    async status({ name, json = false } = {}) {
      const io = captureIo({ env, cwd: home, globals: { config: configPath } });
      const code = (await runStatus({ name, json }, io)) ?? 0;
      return { code, out: io.out() };
    },
  };
}

/** The table's row of `name`, split into its cells (columns are at least two spaces apart). */
function rowOf(out: string, name: string): string[] {
  const row = lines(out).find((line) => line.startsWith(`${name} `));
  if (!row) throw new Error(`no row for ${name} in:\n${out}`);
  return row.split(/ {2,}/);
}

const column = (out: string, header: string) => lines(out)[0]?.split(/ {2,}/).indexOf(header) ?? -1;

describe.concurrent('tokenkeeper status: refresh-token expiry', () => {
  it('a refresh token that does not expire by time, or far from now: exit 0, shown as "-" or the time left', async ({
    onTestFinished,
  }) => {
    const w = await statusWorld(onTestFinished);
    await w.add('timeless', {});
    const far = Date.now() + 90 * DAY + HOUR;
    await w.add('far', { refreshTokenExpiresAt: far, userId: 'USER02' });
    await w.keeper.close();

    const text = await w.status();
    expect(text.code).toBe(0);
    const rtColumn = column(text.out, 'RT EXPIRES IN');
    const statusColumn = column(text.out, 'STATUS');
    expect(rtColumn).toBeGreaterThan(statusColumn);
    expect(rowOf(text.out, 'timeless')[rtColumn]).toBe('-');
    expect(rowOf(text.out, 'far')[rtColumn]).toBe('90d 1h');
    expect(rowOf(text.out, 'far')[statusColumn]).toBe('active');
    expect(text.out).not.toMatch(/reconnect/);

    const json = await w.status({ json: true });
    expect(json.code).toBe(0);
    const byName = new Map((JSON.parse(json.out) as StatusJson[]).map((c) => [c.name, c]));
    expect(byName.get('timeless')).toMatchObject({ refreshTokenExpiresAt: null, expiringSoon: false });
    expect(byName.get('far')).toMatchObject({
      refreshTokenExpiresAt: new Date(far).toISOString(),
      expiringSoon: false,
      successor: null,
    });
  });

  it('inside the warning window: STATUS expiring_soon, what to run below the table, exit 6 (text and --json)', async ({
    onTestFinished,
  }) => {
    const w = await statusWorld(onTestFinished);
    // A refresh token that lives longer than a week gets the default window of 7 days.
    const soon = Date.now() + 2 * DAY + 30 * 60_000;
    await w.add('soon', { refreshTokenExpiresAt: soon, obtainedAt: Date.now() - 10 * DAY });
    await w.add('fine', { userId: 'USER02' });
    await w.keeper.close();

    const text = await w.status();
    expect(text.code).toBe(6);
    expect(rowOf(text.out, 'soon')[column(text.out, 'STATUS')]).toBe('expiring_soon');
    expect(rowOf(text.out, 'soon')[column(text.out, 'RT EXPIRES IN')]).toBe('2d 0h');
    expect(rowOf(text.out, 'fine')[column(text.out, 'STATUS')]).toBe('active');
    expect(text.out.split('\n\n')[1]).toBe(
      'soon: the refresh token expires in 2d 0h; reconnect before then: run `tokenkeeper connect fitbit --name soon`\n',
    );

    const json = await w.status({ json: true });
    expect(json.code).toBe(6);
    expect((JSON.parse(json.out) as StatusJson[]).find((c) => c.name === 'soon')).toMatchObject({
      status: 'active',
      expiringSoon: true,
      refreshTokenExpiresAt: new Date(soon).toISOString(),
    });
    // Only the connection asked for counts.
    expect((await w.status({ name: 'fine' })).code).toBe(0);
    expect((await w.status({ name: 'soon', json: true })).code).toBe(6);
  });

  it('a client secret that expires soon: the advice is to rotate it, not to reconnect: exit 6', async ({
    onTestFinished,
  }) => {
    const secretDies = Date.now() + 3 * DAY + 30 * 60_000;
    const w = await statusWorld(onTestFinished, {
      clientSecretExpiresAt: new Date(secretDies).toISOString(),
    });
    await w.add('me', { refreshTokenExpiresAt: Date.now() + 90 * DAY });
    await w.keeper.close();

    const text = await w.status();
    expect(text.code).toBe(6);
    expect(rowOf(text.out, 'me')[column(text.out, 'STATUS')]).toBe('expiring_soon');
    expect(text.out.split('\n\n')[1]).toBe(
      "me: the client secret of fitbit expires in 3d 0h: rotate the client secret in the provider's console and update providers.fitbit.clientSecret / clientSecretExpiresAt\n",
    );
    const [shown] = JSON.parse((await w.status({ json: true })).out) as StatusJson[];
    expect(shown).toMatchObject({
      expiringSoon: true,
      expiring: { what: 'client_secret', at: new Date(secretDies).toISOString() },
    });
  });

  it('a connection that needs a human wins over one that expires soon: exit 3', async ({
    onTestFinished,
  }) => {
    const w = await statusWorld(onTestFinished);
    const expiring = { refreshTokenExpiresAt: Date.now() + DAY, obtainedAt: Date.now() - 10 * DAY };
    await w.add('soon', expiring);
    await w.add('dead', { ...expiring, userId: 'USER02' });
    w.sim.seedGrant({ userId: 'USER02' }); // a new consent revokes the grant of `dead`
    await expect(w.keeper.refresh('dead', { force: true })).rejects.toMatchObject({ code: 'needs_reauth' });
    await w.keeper.close();

    const text = await w.status();
    expect(text.code).toBe(3);
    expect(rowOf(text.out, 'dead')[column(text.out, 'STATUS')]).toBe('needs_reauth');
    expect(rowOf(text.out, 'soon')[column(text.out, 'STATUS')]).toBe('expiring_soon');
    expect(lines(text.out.split('\n\n')[1] ?? '').sort()).toEqual([
      'dead: the provider no longer accepts its refresh token: run `tokenkeeper connect fitbit --name dead`',
      expect.stringMatching(
        /^soon: the refresh token expires in (?:1d 0h|23h 59m); reconnect before then: run `tokenkeeper connect fitbit --name soon`$/,
      ),
    ]);
    const json = await w.status({ json: true });
    expect(json.code).toBe(3);
    // A connection that needs a human now is not also "expiring soon": that is for what still works.
    expect((JSON.parse(json.out) as StatusJson[]).find((c) => c.name === 'dead')).toMatchObject({
      status: 'needs_reauth',
      expiringSoon: false,
    });
    expect((await w.status({ name: 'soon' })).code).toBe(6);
  });

  it('a retired provider shows its successor and the command that moves the connection there: exit 3', async ({
    onTestFinished,
  }) => {
    const w = await statusWorld(onTestFinished);
    await w.add('old', {});
    w.sim.setRetired(true);
    await expect(w.keeper.refresh('old', { force: true })).rejects.toMatchObject({
      code: 'provider_retired',
    });
    await w.keeper.close();

    const text = await w.status();
    expect(text.code).toBe(3);
    expect(rowOf(text.out, 'old')[column(text.out, 'STATUS')]).toBe('provider_retired');
    expect(text.out.split('\n\n')[1]).toBe(
      'old: fitbit is retired, replaced by google-health: run `tokenkeeper connect google-health --replace old`\n',
    );
    const [old] = JSON.parse((await w.status({ json: true })).out) as StatusJson[];
    expect(old).toMatchObject({
      status: 'provider_retired',
      successor: 'google-health',
      expiringSoon: false,
    });
  });
});
