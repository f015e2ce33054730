import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { describeError, exitCodes } from '../core/errors.ts';
import { createProviderRegistry, type ProviderRegistry } from '../providers/registry.ts';
import { DEFAULT_LISTEN } from '../server/listen.ts';
import { fail, ok, skip, warn, type CheckResult } from './check.ts';
import { checkDataDir, checkKey, checkNode } from './local-checks.ts';
import { checkDaemonPort, checkEndpointReachable } from './network-checks.ts';
import { checkPostgresStore } from './postgres-check.ts';
import { checkProviderConfig } from './provider-checks.ts';
import { checkStore } from './store-check.ts';

export interface DoctorOptions {
  config?: string;
  store?: string;
  env?: NodeJS.ProcessEnv;
  /** Skip the DNS/TLS checks of token endpoints. */
  offline: boolean;
  /** Per network check. */
  timeoutMs: number;
  /** Called with each result as soon as it is known, in order. */
  report?: (result: CheckResult) => void;
}

/** Runs every check in order; it diagnoses only: nothing is created, written or chmodded. */
export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const env = options.env ?? process.env;
  const results: CheckResult[] = [];
  const add = (result: CheckResult) => {
    results.push(result);
    options.report?.(result);
  };

  add(checkNode());

  let loaded: LoadedConfig;
  let registry: ProviderRegistry;
  try {
    loaded = loadConfig({ path: options.config, store: options.store, env });
    registry = createProviderRegistry(loaded.config.providers);
  } catch (error) {
    add(
      fail(
        'config',
        'config',
        describeError(error),
        'fix the config file (or --config / TOKENKEEPER_CONFIG)',
        exitCodes.usage,
      ),
    );
    add(skip('rest', 'other checks', 'skipped until the config loads'));
    return results;
  }
  add(
    ok(
      'config',
      'config',
      loaded.path ??
        'no config file (defaults; tokenkeeper.json in the current directory or TOKENKEEPER_CONFIG)',
    ),
  );

  add(checkDataDir(loaded.dataDir));
  const key = checkKey(loaded.dataDir, env);
  add(key.result);
  const storedProviders = new Set<string>();
  add(
    /^postgres(ql)?:\/\//i.test(loaded.store)
      ? await checkPostgresStore(loaded.store, key.keyring, key.origin, storedProviders, options.timeoutMs)
      : checkStore(loaded.store, key.keyring, key.origin, storedProviders),
  );

  const providerIds = Object.keys(loaded.config.providers ?? {});
  if (providerIds.length === 0 && storedProviders.size === 0) {
    add(
      warn(
        'providers',
        'providers',
        'none configured',
        'add one under "providers" in tokenkeeper.json (see `tokenkeeper providers`)',
      ),
    );
  }
  // Configured providers, then built-in ones only stored connections use (their client settings are stored).
  const storedOnly = [...storedProviders].filter((id) => !providerIds.includes(id)).sort();
  for (const id of [...providerIds, ...storedOnly]) {
    const endpointId = `provider:${id}:endpoint`;
    const title = `provider ${id} token endpoint`;
    let tokenUrl: string | undefined;
    if (providerIds.includes(id)) {
      const config = checkProviderConfig(registry, id, env);
      add(config);
      if (config.status === 'fail') {
        add(skip(endpointId, title, 'skipped: fix the provider config first'));
        continue;
      }
      tokenUrl = registry.get(id).tokenUrl;
    } else {
      try {
        tokenUrl = registry.get(id).tokenUrl;
      } catch (error) {
        add(
          fail(
            `provider:${id}`,
            `provider ${id}`,
            `used by stored connections: ${describeError(error)}`,
            `configure providers.${id}, or remove its connections`,
            exitCodes.usage,
          ),
        );
        continue;
      }
    }
    if (options.offline) add(skip(endpointId, title, 'skipped (--offline)'));
    else add(await checkEndpointReachable(endpointId, title, tokenUrl, options.timeoutMs));
  }

  const server = loaded.config.server;
  if (server?.enabled === false) {
    add(ok('daemon-port', 'daemon port', "the daemon's HTTP server is off (server.enabled false)"));
  } else {
    add(await checkDaemonPort(server?.listen, DEFAULT_LISTEN, server?.tls !== undefined, options.timeoutMs));
  }
  return results;
}
