import { join } from 'node:path';
import { TokenkeeperError } from '../core/errors.ts';
import { DEFAULT_SCHEDULE, validateSchedule } from './schedule.ts';

/** The Functions app's settings, read from app settings (environment variables). */
export interface FunctionSettings {
  /** keyvault://… spec of the vault that holds the connections. */
  store: string;
  /** NCRONTAB schedule of the timer (TOKENKEEPER_SCHEDULE, default every 15 minutes). */
  schedule: string;
  /** Data dir for the rescue journal (and the key file when TOKENKEEPER_KEY is not set). */
  dataDir: string;
}

/**
 * TOKENKEEPER_STORE=keyvault://NAME[?options], or TOKENKEEPER_KEYVAULT=NAME (a vault name or host) for short.
 * The data dir defaults to $HOME/data/tokenkeeper, which on Azure is the app's persistent, shared file share.
 */
export function readFunctionSettings(env: NodeJS.ProcessEnv): FunctionSettings {
  const store =
    env.TOKENKEEPER_STORE ??
    (env.TOKENKEEPER_KEYVAULT ? `keyvault://${env.TOKENKEEPER_KEYVAULT}` : undefined);
  if (!store) {
    throw new TokenkeeperError(
      'config',
      'set the app setting TOKENKEEPER_KEYVAULT to the vault name (or TOKENKEEPER_STORE to keyvault://NAME?options)',
    );
  }
  if (!/^keyvault:\/\//i.test(store)) {
    throw new TokenkeeperError(
      'config',
      `TOKENKEEPER_STORE must be a keyvault://… spec in the Functions app, not "${store}"`,
    );
  }
  const schedule = validateSchedule(env.TOKENKEEPER_SCHEDULE || DEFAULT_SCHEDULE);
  const dataDir = env.TOKENKEEPER_HOME ?? join(env.HOME ?? env.TMPDIR ?? '/tmp', 'data', 'tokenkeeper');
  return { store, schedule, dataDir };
}
