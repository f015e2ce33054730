import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenkeeperError } from '../core/errors.ts';
import { parseKey } from '../crypto/envelope.ts';
import { DEFAULT_SCHEDULE, validateSchedule } from './schedule.ts';

/** The Functions app's settings, read from app settings (environment variables). */
export interface FunctionSettings {
  /** keyvault://… spec of the vault that holds the connections. */
  store: string;
  /** NCRONTAB schedule of the timer (TOKENKEEPER_SCHEDULE, default every 15 minutes). */
  schedule: string;
  /**
   * Scratch dir of this instance (TOKENKEEPER_HOME, default <tmp>/tokenkeeper): per instance and lost on recycle on
   * Flex Consumption, so nothing durable depends on it. Never holds a key file: TOKENKEEPER_KEY is required.
   */
  dataDir: string;
}

/**
 * TOKENKEEPER_STORE=keyvault://NAME[?options], or TOKENKEEPER_KEYVAULT=NAME (a vault name or host) for short, and
 * TOKENKEEPER_KEY (checked here, never read into the settings). The data dir defaults to a temp dir of the instance.
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
  requireFunctionKey(env);
  const dataDir = env.TOKENKEEPER_HOME || join(tmpdir(), 'tokenkeeper');
  return { store, schedule, dataDir };
}

/**
 * The Function needs TOKENKEEPER_KEY: a key file generated in the data dir would differ between instances (and be
 * lost on recycle), so the keeper must never fall back to one. Checked by the keyring's own rule (parseKey).
 */
export function requireFunctionKey(env: NodeJS.ProcessEnv): void {
  const key = env.TOKENKEEPER_KEY;
  const howTo =
    'set the app setting TOKENKEEPER_KEY to the key that encrypts the rescue journal, shared by every instance (make one with `openssl rand -base64 32`), ideally as a Key Vault reference @Microsoft.KeyVault(SecretUri=https://VAULT.vault.azure.net/secrets/NAME)';
  if (!key?.trim()) throw new TokenkeeperError('config', `TOKENKEEPER_KEY is not set: ${howTo}`);
  refuseUnresolvedReference('TOKENKEEPER_KEY', key);
  try {
    parseKey(key, 'TOKENKEEPER_KEY');
  } catch {
    throw new TokenkeeperError(
      'config',
      `TOKENKEEPER_KEY is not a valid key (32 bytes as base64 or 64 hex characters): ${howTo}`,
    );
  }
}

/**
 * A Key Vault reference the platform could not resolve (no access for the app's identity, wrong URI) reaches the
 * app as the reference text itself: say so instead of using it as a secret.
 */
export function refuseUnresolvedReference(setting: string, value: string): void {
  if (/^\s*@Microsoft\.KeyVault\(/i.test(value)) {
    throw new TokenkeeperError(
      'config',
      `${setting} is a Key Vault reference the platform did not resolve: give the app's managed identity the Key Vault Secrets User role on that vault and check the SecretUri (the portal shows the reference's status under Environment variables)`,
    );
  }
}
