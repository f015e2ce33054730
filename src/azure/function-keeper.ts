import type { TokenCredential } from '@azure/identity';
import { configDefaults } from '../config/defaults.ts';
import { loadConfig } from '../config/load.ts';
import type { ConfigFile } from '../config/schema.ts';
import type { Logger } from '../core/logger.ts';
import type { Clock } from '../core/types.ts';
import { createKeeper, type Keeper } from '../keeper/keeper.ts';
import { functionWebhookSettings, type FunctionAlerts } from './alerts.ts';
import { parseSchedule, scheduleWarnings, type Schedule } from './schedule.ts';
import { requireFunctionKey, type FunctionSettings } from './settings.ts';

export interface FunctionKeeperOptions {
  env: NodeJS.ProcessEnv;
  settings: FunctionSettings;
  /** Config object instead of TOKENKEEPER_CONFIG / ./tokenkeeper.json. */
  config?: ConfigFile;
  logger?: Logger;
  clock?: Clock;
  /** The Microsoft Entra credential for the vault and its locks; default Managed Identity in Azure. */
  azureCredential?: TokenCredential;
  /** Attached to the keeper's events: the webhooks of the config file and the TOKENKEEPER_WEBHOOK_* settings. */
  alerts?: FunctionAlerts;
}

/**
 * The keeper of one Functions instance. Its refresh margin covers the gap to the next timer run, so a token is
 * refreshed on the last run before it would expire — with the seed's 6-hourly schedule too — while the decision
 * is still taken under the lock, after re-reading the vault.
 */
export async function createFunctionKeeper(options: FunctionKeeperOptions): Promise<Keeper> {
  const { env, settings } = options;
  requireFunctionKey(env); // never a generated key file in the data dir of one instance
  const keeperEnv = { ...env, TOKENKEEPER_HOME: settings.dataDir };
  const config = options.config ?? loadConfig({ env: keeperEnv }).config;
  const webhooks = functionWebhookSettings(config, keeperEnv); // bad settings fail before the vault is opened
  const schedule = parseSchedule(settings.schedule);
  const gapSeconds = schedule.longestGapSeconds + 60;
  const marginSeconds = Math.max(
    config.refresh?.marginSeconds ?? configDefaults.refresh.marginSeconds,
    gapSeconds,
  );
  const keeper = await createKeeper({
    config: { ...config, refresh: { ...config.refresh, marginSeconds } },
    store: settings.store,
    env: keeperEnv,
    ...(options.logger && { logger: options.logger }),
    ...(options.clock && { clock: options.clock }),
    ...(options.azureCredential && { azureCredential: options.azureCredential }),
  });
  options.alerts?.attach(keeper, webhooks, options.logger ?? consoleLogger);
  if (options.logger) await warnAboutSchedule(keeper, schedule, options.logger);
  return keeper;
}

/** Logs, once at start, each provider whose access tokens would expire between two timer runs. */
async function warnAboutSchedule(keeper: Keeper, schedule: Schedule, logger: Logger): Promise<void> {
  try {
    const lifetimes = (await keeper.connectionsForScheduling()).flatMap(({ provider }) => {
      const accessTokenLifetimeMs = keeper.providers.get(provider).accessTokenLifetimeMs;
      return accessTokenLifetimeMs ? [{ provider, accessTokenLifetimeMs }] : [];
    });
    for (const warning of scheduleWarnings(schedule, lifetimes)) {
      logger.warn({ setting: 'TOKENKEEPER_SCHEDULE' }, warning);
    }
  } catch {
    // Only advice: an unreachable vault or an unknown provider is reported by the timer run itself.
  }
}

/** One keeper per Functions instance, created on first use and kept while the instance is warm. */
export function lazyKeeper(create: () => Promise<Keeper>): () => Promise<Keeper> {
  let keeper: Promise<Keeper> | undefined;
  return () => {
    keeper ??= create().catch((error: unknown) => {
      keeper = undefined; // a failed start (vault unreachable, bad setting) is retried on the next invocation
      throw error;
    });
    return keeper;
  };
}

/** Keeper logs as JSON lines on the console, which the Functions host collects (no secrets in the fields). */
export const consoleLogger: Logger = {
  debug: () => undefined,
  info: (fields, message) => console.info(JSON.stringify({ level: 'info', message, ...fields })),
  warn: (fields, message) => console.warn(JSON.stringify({ level: 'warn', message, ...fields })),
  error: (fields, message) => console.error(JSON.stringify({ level: 'error', message, ...fields })),
};
