import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config/schema.ts';
import { builtInProviders } from '../../src/providers/catalog.ts';
import { runCli, startCli as startCliProcess, type CliProcess, type RunCliOptions } from '../cli/run-cli.ts';
import { expectSuccess } from '../cli/harness.ts';
import {
  startSimulatedMicrosoft,
  startSimulatedSpotify,
  type SimulatedOAuthProvider,
} from '../fakes/index.ts';
import { KEY } from './harness.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SPOTIFY_SECRET = 'spotify-secret-value';

let microsoft: SimulatedOAuthProvider;
let spotify: SimulatedOAuthProvider;
const dirs: string[] = [];
const started: CliProcess[] = [];

function startCli(args: string[], options: RunCliOptions): CliProcess {
  const cli = startCliProcess(args, options);
  started.push(cli);
  return cli;
}

beforeAll(async () => {
  microsoft = await startSimulatedMicrosoft({ tenant: TENANT, userId: 'ms-user' });
  spotify = await startSimulatedSpotify({ clientSecret: SPOTIFY_SECRET });
});
afterEach(async () => {
  for (const cli of started.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    await cli.done.catch(() => undefined);
  }
});
afterAll(async () => {
  await Promise.all([microsoft?.close(), spotify?.close()]);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A data dir and a config file pointing the providers at the fakes. */
async function workspace(extra: ConfigFile['providers'] = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'tokenkeeper-providers-cli-'));
  dirs.push(dir);
  const config: ConfigFile = {
    refresh: { timeoutSeconds: 2 },
    providers: {
      microsoft: {
        tenant: TENANT,
        authorizationUrl: `${microsoft.url}/{tenant}/oauth2/v2.0/authorize`,
        tokenUrl: `${microsoft.url}/{tenant}/oauth2/v2.0/token`,
        deviceAuthorizationUrl: `${microsoft.url}/{tenant}/oauth2/v2.0/devicecode`,
        clientId: microsoft.clientId,
      },
      spotify: {
        tokenUrl: spotify.tokenUrl,
        authorizationUrl: spotify.authorizeUrl,
        clientId: spotify.clientId,
      },
      ...extra,
    },
  };
  const configPath = join(dir, 'tokenkeeper.json');
  await writeFile(configPath, JSON.stringify(config));
  const env: NodeJS.ProcessEnv = {
    TOKENKEEPER_HOME: dir,
    TOKENKEEPER_KEY: KEY,
    TOKENKEEPER_CONFIG: configPath,
    SPOTIFY_SECRET,
  };
  return { dir, env };
}

describe('tokenkeeper providers', () => {
  it('--json lists every built-in and user-defined provider with docs link, redirect URI and scopes', async () => {
    const { env } = await workspace({
      acme: {
        extends: 'oauth2',
        tokenUrl: 'https://auth.acme.test/token',
        authorizationUrl: 'https://auth.acme.test/authorize',
        scopes: ['read', 'offline'],
        clientSecret: 'env:ACME_SECRET',
        redirectUri: 'https://tokens.acme.test/callback',
      },
    });
    const result = await runCli(['providers', '--json'], {
      env: { ...env, ACME_SECRET: 'acme-secret-value' },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listed = JSON.parse(result.stdout) as Array<{
      id: string;
      docsUrl: string | null;
      builtIn: boolean;
      grants: string[];
      appSettings: { redirectUri: string; scopes: string[]; clientSecretConfigured: boolean };
      endpoints: { token: string | null; deviceAuthorization: string | null };
    }>;
    const ids = listed.map((provider) => provider.id);
    for (const id of [
      'withings',
      'oura',
      'strava',
      'whoop',
      'spotify',
      'microsoft',
      'dexcom',
      'dexcom-sandbox',
      'oauth2',
    ]) {
      expect(ids).toContain(id);
    }
    expect(ids).toEqual(expect.arrayContaining([...builtInProviders.map((provider) => provider.id), 'acme']));
    for (const provider of listed.filter((entry) => entry.builtIn && entry.id !== 'demo')) {
      expect(provider.docsUrl, provider.id).toMatch(/^https:\/\//);
      expect(provider.appSettings.redirectUri).toBe('http://127.0.0.1:8976/callback');
    }
    const byId = new Map(listed.map((provider) => [provider.id, provider]));
    expect(byId.get('microsoft')?.endpoints).toMatchObject({
      token: `${microsoft.url}/${TENANT}/oauth2/v2.0/token`,
      deviceAuthorization: `${microsoft.url}/${TENANT}/oauth2/v2.0/devicecode`,
    });
    expect(byId.get('whoop')?.appSettings.scopes).toContain('offline');
    expect(byId.get('dexcom-sandbox')?.endpoints.token).toBe(
      'https://sandbox-api.dexcom.com/v2/oauth2/token',
    );
    expect(byId.get('acme')).toMatchObject({
      builtIn: false,
      appSettings: {
        redirectUri: 'https://tokens.acme.test/callback',
        scopes: ['read', 'offline'],
        clientSecretConfigured: true,
      },
    });
    expect(result.stdout).not.toContain('acme-secret-value');
    expect(result.stdout).not.toContain('ACME_SECRET');
  });

  it('prints one provider as text with its app settings; an unknown id is a one-line usage error', async () => {
    const { env } = await workspace();
    const shown = await runCli(['providers', 'strava'], { env });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('strava — Strava API v3');
    expect(shown.stdout).toContain('https://developers.strava.com/docs/authentication/');
    expect(shown.stdout).toContain('redirect URI: http://127.0.0.1:8976/callback');
    expect(shown.stdout).toContain('scopes:       read,activity:read_all');
    const unknown = await runCli(['providers', 'fitbyte'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('unknown provider "fitbyte"');
  });

  it("shows each provider's refresh-token lifetime and keep-alive, as configured (publishingStatus, overrides)", async () => {
    const { env } = await workspace({
      'google-health': { publishingStatus: 'testing' },
      oura: { refreshTokenLifetimeDays: 60, keepAliveDays: 7 },
    });
    const listed = JSON.parse(expectSuccess(await runCli(['providers', '--json'], { env })).stdout) as Array<{
      id: string;
      refreshTokenLifetime: { days: number; renewedByUse: boolean; fromConsent: boolean } | null;
      keepAliveDays: number | null;
    }>;
    const byId = new Map(listed.map((provider) => [provider.id, provider]));
    expect(byId.get('google-health')).toMatchObject({
      refreshTokenLifetime: { days: 7, renewedByUse: false, fromConsent: true },
      keepAliveDays: 30,
    });
    expect(byId.get('microsoft')).toMatchObject({
      refreshTokenLifetime: { days: 90, renewedByUse: true },
      keepAliveDays: 14,
    });
    expect(byId.get('oura')).toMatchObject({ refreshTokenLifetime: { days: 60 }, keepAliveDays: 7 });
    expect(byId.get('strava')).toMatchObject({ refreshTokenLifetime: null, keepAliveDays: null });
    const text = (id: string) =>
      runCli(['providers', id], { env }).then((result) => expectSuccess(result).stdout);
    expect(await text('microsoft')).toContain(
      'lifetime:     refresh tokens live 90 days unused (each refresh renews them); refreshed at least every 14 days',
    );
    expect(await text('spotify')).toContain(
      'refresh tokens live 180 days from consent (refreshes do not renew them)',
    );
    expect(await text('strava')).toContain('lifetime:     refresh tokens: no time limit known');
  });

  it('a {tenant} placeholder without a tenant, or a malformed tenant, is a config error naming the setting', async () => {
    const { env } = await workspace({
      contoso: { extends: 'oauth2', tokenUrl: 'https://login.example.test/{tenant}/token' },
    });
    const missing = await runCli(['providers'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('providers.contoso.tokenUrl contains {tenant}');
    const bad = await workspace({ microsoft: { tenant: '../evil' } });
    const malformed = await runCli(['providers'], { env: bad.env });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('providers.microsoft.tenant');
  });
});

describe('connect --device (RFC 8628) through the CLI', () => {
  it('prints the user code, waits for the approval, and saves the connection', async () => {
    const { env } = await workspace();
    const cli = startCli(
      ['connect', 'microsoft', '--device', '--name', 'work', '--json', '--timeout', '20'],
      { env },
    );
    const [, userCode] = await cli.waitFor(/enter the code:\s+(\S+)/);
    expect(cli.stderr()).toContain(`${microsoft.url}/device`);
    expect(microsoft.approveDevice(userCode as string)).toBe(true);
    const result = await cli.done;
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      name: 'work',
      provider: 'microsoft',
      status: 'active',
    });
    const token = await runCli(['token', 'work'], { env });
    expect(token.code).toBe(0);
    expect(await microsoft.useAccessToken(token.stdout.trim())).toBe(true);
  });

  it('a declined sign-in ends with a one-line error and saves nothing', async () => {
    const { env } = await workspace();
    const cli = startCli(['connect', 'microsoft', '--device', '--name', 'declined'], { env });
    const [, userCode] = await cli.waitFor(/enter the code:\s+(\S+)/);
    microsoft.denyDevice(userCode as string);
    const result = await cli.done;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('declined');
    const status = await runCli(['status', '--json'], { env });
    expect(JSON.parse(status.stdout)).toEqual([]);
  });

  it('a provider without a device endpoint says how to proceed', async () => {
    const { env } = await workspace();
    const result = await runCli(['connect', 'spotify', '--device'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('provider spotify has no device authorization endpoint');
  });
});

describe('add --client-credentials through the CLI', () => {
  it('saves a connection without a refresh token that renews by asking again', async () => {
    const { env } = await workspace();
    const before = spotify.stats.clientCredentialsGrants;
    const added = await runCli(
      [
        'add',
        'catalog',
        '--provider',
        'spotify',
        '--client-credentials',
        '--client-secret',
        'env:SPOTIFY_SECRET',
        '--json',
      ],
      { env },
    );
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ name: 'catalog', status: 'active' });
    expect(added.stdout).not.toContain(SPOTIFY_SECRET);
    const token = await runCli(['token', 'catalog'], { env });
    expect(await spotify.useAccessToken(token.stdout.trim())).toBe(true);
    const refreshed = await runCli(['refresh', 'catalog', '--force', '--json'], { env });
    expect(refreshed.code).toBe(0);
    const again = await runCli(['token', 'catalog'], { env });
    expect(again.stdout.trim()).not.toBe(token.stdout.trim());
    expect(spotify.stats.clientCredentialsGrants - before).toBe(2);
    const requests = spotify.tokenRequests.filter((request) => request.grantType === 'client_credentials');
    expect(requests.at(-1)).toMatchObject({ clientAuth: 'basic' });
  });

  it('refuses providers without the grant, a missing secret, or a wrong secret — and saves nothing', async () => {
    const { env } = await workspace();
    const withings = await runCli(
      [
        'add',
        'w',
        '--provider',
        'withings',
        '--client-credentials',
        '--client-id',
        'x',
        '--client-secret',
        'env:SPOTIFY_SECRET',
      ],
      { env },
    );
    expect(withings.code).toBe(2);
    expect(withings.stderr).toContain('does not offer the client credentials grant');
    const noSecret = await runCli(['add', 's', '--provider', 'spotify', '--client-credentials'], { env });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('client credentials need the client secret');
    const wrong = await runCli(
      ['add', 's', '--provider', 'spotify', '--client-credentials', '--client-secret', 'env:WRONG'],
      {
        env: { ...env, WRONG: 'not-the-secret' },
      },
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('nothing was saved');
    expect(wrong.stderr).not.toContain('not-the-secret');
    const status = await runCli(['status', '--json'], { env });
    expect(JSON.parse(status.stdout)).toEqual([]);
  });
});
