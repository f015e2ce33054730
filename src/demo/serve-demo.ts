import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_ACCOUNT, demoProviderSettings, startDemoProvider } from './demo-provider.ts';
import { aborted, stopOnSignalOrTimeout } from './stop-signal.ts';

const INHERITED_SETTINGS = [
  'TOKENKEEPER_STORE',
  'TOKENKEEPER_KEY',
  'TOKENKEEPER_KEY_FILE',
  'TOKENKEEPER_PREVIOUS_KEYS',
];

export interface ServeDemoOptions {
  lifetimeSeconds: number;
  /** 0 picks a free port. */
  port: number;
  /** Stop after this long; without it, run until SIGINT or SIGTERM. */
  durationSeconds?: number;
  /** Keep the temporary data dir (store, key, config) after stopping. */
  keep: boolean;
  write: (line: string) => void;
}

/**
 * Runs the simulated provider on loopback until stopped, for trying the real CLI against it from another
 * terminal. Its data dir and config live in a fresh temp dir, so the user's own store is never touched unless
 * they copy the provider entry into their config. A public client: there is no secret to show.
 */
export async function serveDemo(options: ServeDemoOptions): Promise<void> {
  const { write } = options;
  const stop = stopOnSignalOrTimeout(options.durationSeconds);
  const home = mkdtempSync(join(tmpdir(), 'tokenkeeper-demo-serve-'));
  try {
    const provider = await startDemoProvider({
      lifetimeSeconds: options.lifetimeSeconds,
      port: options.port,
      clientType: 'client',
    });
    try {
      const config = { providers: { demo: demoProviderSettings(provider) } };
      const configPath = join(home, 'tokenkeeper.json');
      writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      write(
        `Simulated Fitbit (provider "demo") at ${provider.url}: single-use refresh tokens, ${options.lifetimeSeconds} s access tokens; its consent page approves account ${DEMO_ACCOUNT} at once.`,
      );
      write('');
      write('In another terminal:');
      // Settings from this shell would point the commands at the user's own store or key instead.
      const inherited = INHERITED_SETTINGS.filter((name) => process.env[name]);
      if (inherited.length) write(`  unset ${inherited.join(' ')}`);
      write(`  export TOKENKEEPER_HOME=${home} TOKENKEEPER_CONFIG=${configPath}`);
      write(
        '  tokenkeeper connect demo --name demo-me --no-browser   # open the URL it prints (or curl -sL it)',
      );
      write('  tokenkeeper token demo-me');
      write('  tokenkeeper status');
      write('  tokenkeeper run');
      write('');
      write('Or add this provider to your own tokenkeeper.json:');
      write(JSON.stringify(config, null, 2));
      write('');
      write(
        `Running ${options.durationSeconds === undefined ? 'until Ctrl-C (SIGINT or SIGTERM)' : `for ${options.durationSeconds} s (Ctrl-C to stop early)`}${options.keep ? '' : `; ${home} is deleted then`}.`,
      );
      await aborted(stop.signal);
      const { stats } = provider;
      write(
        `Stopped: ${stats.codeExchanges} consents, ${stats.refreshSuccesses} refreshes, ${stats.graceReplays} grace replays, ${stats.invalidGrant} invalid_grant, ${stats.apiRequests} API calls.`,
      );
    } finally {
      await provider.close();
    }
  } finally {
    stop.dispose();
    if (!options.keep) rmSync(home, { recursive: true, force: true });
  }
}
