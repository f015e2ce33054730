import type { LogLevel } from '../core/logger.ts';
import { configDefaults, type ConfigDefaults } from './defaults.ts';
import { deepFreeze } from './freeze.ts';
import { loadConfig } from './load.ts';
import type { ConfigFile } from './schema.ts';

/** Command-line values of config keys: they win over the environment and the config. */
export interface SettingsFlags {
  connect?: { port?: number; timeoutSeconds?: number };
  daemon?: { concurrency?: number };
  server?: { listen?: string; enabled?: boolean };
}

/** Where settings come from, strongest first: flags, then the environment, then the config, then the defaults. */
export interface SettingsSources {
  /** A config file path (--config), or the config itself. Default: TOKENKEEPER_CONFIG or ./tokenkeeper.json. */
  config?: string | ConfigFile;
  /** The store (--store); over TOKENKEEPER_STORE and "store". */
  store?: string;
  /** --log-level; over TOKENKEEPER_LOG_LEVEL and "logLevel". */
  logLevel?: LogLevel;
  flags?: SettingsFlags;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Everything tokenkeeper is configured with, resolved once and frozen: every key has its value. */
export interface Settings {
  /**
   * The config as checked, for the sections used as written: providers, keyVault, and webhooks (webhooks/endpoints.ts
   * resolves its secrets and URLs; its retry defaults are in defaults.ts too).
   */
  readonly config: ConfigFile;
  /** The config file it came from, if any. */
  readonly path?: string;
  readonly dataDir: string;
  /** Where connections live: a SQLite file path, or a URL (postgres://…, keyvault://…). */
  readonly store: string;
  /** Undefined when nothing sets it: each face has its own default (the library logs nothing). */
  readonly logLevel?: LogLevel;
  readonly refresh: ConfigDefaults['refresh'] & {
    /** Undefined: 7 days, 1 day for refresh tokens that live 7 days or less (core/expiry.ts). */
    readonly expiringSoonDays?: number;
  };
  readonly connect: ConfigDefaults['connect'];
  readonly daemon: ConfigDefaults['daemon'];
  readonly server: ConfigDefaults['server'] & {
    readonly tls?: { readonly cert: string; readonly key: string };
    /** A secret reference (env:NAME or file:PATH), resolved where it is used. */
    readonly metricsToken?: string;
    /** The daemon's public base URL, for reconnect links in messages; undefined: messages carry none. */
    readonly publicUrl?: string;
  };
}

/** The one resolution of flags + environment + config + defaults into settings. */
export function resolveSettings(sources: SettingsSources = {}): Settings {
  const env = sources.env ?? process.env;
  const loaded = loadConfig({
    ...(typeof sources.config === 'object' ? { inline: sources.config } : { path: sources.config }),
    store: sources.store,
    env,
    cwd: sources.cwd,
  });
  const { config } = loaded;
  const flags = sources.flags ?? {};
  const defaults = configDefaults;
  const refresh = config.refresh ?? {};
  const server = config.server ?? {};
  return deepFreeze({
    config,
    ...(loaded.path !== undefined && { path: loaded.path }),
    dataDir: loaded.dataDir,
    store: loaded.store,
    ...((sources.logLevel ?? config.logLevel) !== undefined && {
      logLevel: sources.logLevel ?? config.logLevel,
    }),
    refresh: {
      marginSeconds: refresh.marginSeconds ?? defaults.refresh.marginSeconds,
      marginRatio: refresh.marginRatio ?? defaults.refresh.marginRatio,
      defaultLifetimeSeconds: refresh.defaultLifetimeSeconds ?? defaults.refresh.defaultLifetimeSeconds,
      timeoutSeconds: refresh.timeoutSeconds ?? defaults.refresh.timeoutSeconds,
      maxAttempts: refresh.maxAttempts ?? defaults.refresh.maxAttempts,
      maxResponseBytes: refresh.maxResponseBytes ?? defaults.refresh.maxResponseBytes,
      lockTtlSeconds: refresh.lockTtlSeconds ?? defaults.refresh.lockTtlSeconds,
      lockWaitSeconds: refresh.lockWaitSeconds ?? defaults.refresh.lockWaitSeconds,
      saveRetrySeconds: refresh.saveRetrySeconds ?? defaults.refresh.saveRetrySeconds,
      ...(refresh.expiringSoonDays !== undefined && { expiringSoonDays: refresh.expiringSoonDays }),
    },
    connect: {
      port: flags.connect?.port ?? config.connect?.port ?? defaults.connect.port,
      timeoutSeconds:
        flags.connect?.timeoutSeconds ?? config.connect?.timeoutSeconds ?? defaults.connect.timeoutSeconds,
    },
    daemon: {
      concurrency: flags.daemon?.concurrency ?? config.daemon?.concurrency ?? defaults.daemon.concurrency,
      maxSleepSeconds: config.daemon?.maxSleepSeconds ?? defaults.daemon.maxSleepSeconds,
    },
    server: {
      enabled: flags.server?.enabled ?? server.enabled ?? defaults.server.enabled,
      listen: flags.server?.listen ?? server.listen ?? defaults.server.listen,
      rateLimit: {
        max: server.rateLimit?.max ?? defaults.server.rateLimit.max,
        windowSeconds: server.rateLimit?.windowSeconds ?? defaults.server.rateLimit.windowSeconds,
      },
      statusPage: server.statusPage ?? defaults.server.statusPage,
      loginRequired: server.loginRequired ?? defaults.server.loginRequired,
      ...(server.tls && { tls: server.tls }),
      ...(server.metricsToken !== undefined && { metricsToken: server.metricsToken }),
      ...(server.publicUrl !== undefined && { publicUrl: server.publicUrl }),
    },
  }) as Settings;
}
