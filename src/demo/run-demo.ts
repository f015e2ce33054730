import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../core/errors.ts';
import { fingerprint } from '../core/redact.ts';
import { runScheduler } from '../daemon/scheduler.ts';
import { createKeeper } from '../keeper/keeper.ts';
import { connectAccount } from '../flows/connect-flow.ts';
import { silentLogger } from '../core/logger.ts';
import { demoProviderSettings, startDemoProvider } from './demo-provider.ts';
import { startFlakyLink } from './flaky-link.ts';
import { stopOnSignalOrTimeout } from './stop-signal.ts';

export interface DemoOptions {
  durationSeconds: number;
  /** Access-token lifetime the simulated provider grants. */
  lifetimeSeconds: number;
  /** Inject a lost response and a 503 to show recovery. */
  chaos: boolean;
  /** Keep the demo's temporary store instead of deleting it. */
  keep: boolean;
  write: (line: string) => void;
}

export interface DemoResult {
  rotations: number;
  providerCalls: number;
  invalidGrant: number;
  graceReplays: number;
  apiCheck: boolean;
}

/**
 * The newcomer's first run: a simulated Fitbit on loopback (single-use refresh tokens, short-lived access
 * tokens), a connection made through the real consent flow, and the real scheduler keeping it alive while every
 * rotation is shown (as fingerprints, never the tokens themselves).
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { write } = options;
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-demo-'));
  const provider = await startDemoProvider({ lifetimeSeconds: options.lifetimeSeconds });
  // With --chaos the keeper reaches the token endpoint through a link that loses one answer and refuses one request.
  const link = options.chaos ? await startFlakyLink(provider.url) : undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, TOKENKEEPER_HOME: home };
  delete env.TOKENKEEPER_STORE;
  delete env.TOKENKEEPER_KEY;
  delete env.TOKENKEEPER_KEY_FILE;
  const keeper = await createKeeper({
    env,
    config: {
      dataDir: home,
      refresh: {
        marginSeconds: Math.max(1, options.lifetimeSeconds * 0.35),
        timeoutSeconds: 2,
        maxAttempts: 3,
      },
      daemon: { maxSleepSeconds: 1 },
      providers: {
        demo: demoProviderSettings(provider, link && new URL('/oauth2/token', link.url).href),
      },
    },
    logger: silentLogger,
  });
  const started = Date.now();
  const stamp = () => `[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`;
  try {
    write(
      `Simulated Fitbit running at ${provider.url} (single-use refresh tokens, ${options.lifetimeSeconds} s access tokens)`,
    );
    write(
      `Store: ${keeper.store.location} (encrypted; deleted at the end${options.keep ? ' — kept because of --keep' : ''})`,
    );
    const connected = await connectAccount(keeper, {
      provider: 'demo',
      name: 'demo-me',
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      scopes: ['activity', 'profile'],
      redirectUri: 'http://127.0.0.1:0/callback',
      timeoutMs: 10_000,
      // Plays the user's browser: open the consent page, which the demo provider approves at once, and follow the redirect.
      presentAuthorizationUrl: async (url) => {
        const consent = await fetch(url, { redirect: 'manual' });
        const location = consent.headers.get('location');
        if (!location)
          throw new Error(`simulated consent page answered HTTP ${consent.status} without a redirect`);
        await (await fetch(location)).text();
      },
    });
    let rows = await keeper.store.get('demo-me');
    write(
      `${stamp()} connected "${connected.name}" (account ${connected.account}) via authorization code + PKCE; refresh token ${fingerprint(rows?.tokens.refreshToken)}`,
    );

    let rotations = 0;
    let previous = rows?.tokens.refreshToken;
    keeper.onEvent((event) => {
      if (event.type === 'refreshed') {
        void keeper.store.get(event.name).then((current) => {
          rotations += event.rotated ? 1 : 0;
          const left = Math.round((event.expiresAt - Date.now()) / 1000);
          write(
            `${stamp()} refreshed: refresh token ${fingerprint(previous)} -> ${fingerprint(current?.tokens.refreshToken)} (old one is now dead), access token valid ${left} s${event.recovered ? ' — recovered an interrupted refresh' : ''}`,
          );
          previous = current?.tokens.refreshToken;
          if (options.chaos && rotations === 1) {
            write(
              `${stamp()} chaos: the next refresh response will be lost after the provider rotated the token`,
            );
            link?.loseNextAnswer();
          }
          if (options.chaos && rotations === 2) {
            write(`${stamp()} chaos: the next refresh gets 503 Service Unavailable`);
            link?.refuseNext(1);
          }
        });
      } else if (event.type === 'refresh_failed') {
        write(
          `${stamp()} refresh attempt ${event.attempt} failed (${event.error}); ${event.retryInMs === undefined ? 'giving up for now' : `retrying in ${(event.retryInMs / 1000).toFixed(1)} s`}`,
        );
      }
    });

    write(`${stamp()} keeping it alive for ${options.durationSeconds} s (Ctrl-C to stop early)…`);
    const stop = stopOnSignalOrTimeout(options.durationSeconds);
    try {
      await runScheduler(keeper, {
        concurrency: 1,
        maxSleepMs: 1000,
        signal: stop.signal,
        logger: silentLogger,
      });
    } finally {
      stop.dispose();
    }

    const token = await keeper.accessToken('demo-me');
    const api = await fetch(provider.profileUrl, { headers: { authorization: `Bearer ${token}` } });
    await api.text();
    rows = await keeper.store.get('demo-me');
    const result: DemoResult = {
      rotations,
      providerCalls: provider.stats.refreshRequests + (link?.refused ?? 0),
      invalidGrant: provider.stats.invalidGrant,
      graceReplays: provider.stats.graceReplays,
      apiCheck: api.ok,
    };
    write(
      `${stamp()} done: ${result.rotations} rotations, ${result.providerCalls} refresh calls, ${result.invalidGrant} invalid_grant, ${result.graceReplays} grace replays; API call with the current token: HTTP ${api.status}`,
    );
    write(
      'Next: `tokenkeeper connect google-health` with your own Google Health app, then `tokenkeeper run`.',
    );
    return result;
  } catch (error) {
    write(`demo failed: ${describeError(error)}`);
    throw error;
  } finally {
    await keeper.close();
    await link?.close();
    await provider.close();
    if (!options.keep) rmSync(home, { recursive: true, force: true });
  }
}
