import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTimerHandler } from '../../src/azure/timer-handler.ts';
import { invocation, startAzureWorld, timerFiring, type AzureWorld } from './harness.ts';

const cliPath = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('tokenkeeper CLI on the vault the function refreshes (--store keyvault://…)', () => {
  let world: AzureWorld;
  let configPath: string;

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [cliPath, '--config', configPath, '--store', world.storeSpec, '--log-format', 'json', ...args],
        { env: { ...world.childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  beforeAll(async () => {
    world = await startAzureWorld();
    configPath = join(world.home, 'tokenkeeper.json');
    writeFileSync(configPath, JSON.stringify(world.config), { mode: 0o600 });
  });
  afterAll(async () => {
    await world?.close();
  });

  it("reads the C# function's vault as it is, and hands out a working token from it", async () => {
    const grant = world.seedLikeCSharp();
    const status = await cli(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const rows = JSON.parse(status.stdout) as Array<{ name: string; provider: string; status: string }>;
    expect(rows).toEqual([expect.objectContaining({ name: 'fitbit', provider: 'fitbit', status: 'active' })]);
    expect(status.stdout).not.toContain(grant.refreshToken);

    const token = await cli(['token', 'fitbit']);
    expect(token.code, token.stderr).toBe(0);
    const accessToken = token.stdout.trim();
    const profile = await fetch(world.sim.profileUrl, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(profile.status).toBe(200);
    expect((await world.secrets.getSecret('AccessToken')).value).toBe(accessToken);
    expect((await world.secrets.getSecret('RefreshToken')).value).toBe(
      world.sim.activeRefreshToken('SEED01'),
    );
    expect(token.stderr).not.toContain(accessToken);
  });

  it('CLI forced refreshes racing the timer function: no invalid_grant, the vault keeps the live token', async () => {
    const keeper = await world.functionKeeper();
    const timer = createTimerHandler(async () => keeper);
    for (let round = 0; round < 3; round++) {
      const [cliRun] = await Promise.all([
        cli(['refresh', 'fitbit', '--force', '--json']),
        timer(timerFiring(), invocation('tokenkeeperRefresh').context),
        keeper.refresh('fitbit', { force: true }),
      ]);
      expect(cliRun.code, cliRun.stderr + cliRun.stdout).toBe(0);
    }
    expect(world.sim.stats.invalidGrant).toBe(0);
    expect((await world.secrets.getSecret('RefreshToken')).value).toBe(
      world.sim.activeRefreshToken('SEED01'),
    );
  });

  it('signs in with the real @azure/identity (a fake Entra on loopback); no test token variable bypasses it', async () => {
    world.seedLikeCSharp();
    const issued = world.entra.tokensIssued;
    const status = await cli(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(world.entra.tokensIssued).toBeGreaterThan(issued);
    const refused = await cli(['status', '--json'], {
      AZURE_CLIENT_SECRET: 'not-the-app-secret',
      TOKENKEEPER_TEST_AZURE_TOKEN: world.kv.acceptedToken,
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/EnvironmentCredential authentication failed/);
  });

  it('adds more connections under a name prefix next to the seed secrets', async () => {
    const grant = world.sim.seedGrant({ userId: 'WORK01' });
    const added = await cli(
      [
        'add',
        'work',
        '--provider',
        'fitbit',
        '--client-id',
        world.sim.clientId,
        '--client-secret',
        'env:SECRET',
        '--refresh-token',
        'env:RT',
        '--json',
      ],
      { SECRET: world.sim.clientSecret, RT: grant.refreshToken },
    );
    expect(added.code, added.stderr).toBe(0);
    expect((await world.secrets.getSecret('work-RefreshToken')).value).toBe(
      world.sim.activeRefreshToken('WORK01'),
    );
    expect((await world.secrets.getSecret('work-FitbitCredentials')).value).toBe(
      Buffer.from(`${world.sim.clientId}:${world.sim.clientSecret}`).toString('base64'),
    );
    const status = await cli(['status', '--json']);
    expect((JSON.parse(status.stdout) as Array<{ name: string }>).map((row) => row.name)).toEqual([
      'fitbit',
      'work',
    ]);
  });

  it('refuses names Key Vault cannot hold, with a one-line fix, and writes nothing', async () => {
    const before = world.kv.writes;
    const dotted = await cli(
      [
        'add',
        'my.conn',
        '--provider',
        'fitbit',
        '--client-id',
        'x',
        '--refresh-token',
        'env:RT',
        '--no-verify',
      ],
      {
        RT: 'some-token',
      },
    );
    expect(dotted.code).toBe(2);
    expect(dotted.stderr).toMatch(
      /cannot be kept in Key Vault: secret names allow only letters, digits and "-"/,
    );
    const badVault = await cli(['--store', 'keyvault://-bad-', 'status']);
    expect(badVault.code).toBe(2);
    expect(badVault.stderr).toMatch(/vault name is 3–24 letters/);
    const badOption = await cli(['--store', `${world.storeSpec}&refreshToken=X`, 'status']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/unknown Key Vault store option "refreshToken"/);
    expect(world.kv.writes).toBe(before);
  });
});
