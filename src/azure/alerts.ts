import type { InvocationContext } from '@azure/functions';
import type { ConfigFile } from '../config/schema.ts';
import { loadSchema } from '../config/schema-loader.ts';
import { TokenkeeperError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import {
  webhookSettingsFrom,
  type ExtraWebhookEndpoint,
  type WebhookSettings,
} from '../webhooks/endpoints.ts';
import { refuseUnresolvedReference } from './settings.ts';

export const WEBHOOK_URL_SETTING = 'TOKENKEEPER_WEBHOOK_URL';
export const WEBHOOK_SECRET_SETTING = 'TOKENKEEPER_WEBHOOK_SECRET';
export const WEBHOOK_EVENTS_SETTING = 'TOKENKEEPER_WEBHOOK_EVENTS';

/**
 * The Function's webhooks: the config file's `webhooks` section plus, for app-settings-only deployments, one
 * endpoint from TOKENKEEPER_WEBHOOK_URL, TOKENKEEPER_WEBHOOK_SECRET (the signing secret itself, typically a Key
 * Vault reference the platform resolves) and TOKENKEEPER_WEBHOOK_EVENTS (comma list; default all). The app-settings
 * endpoint is checked by the config schema and resolved by webhookSettingsFrom, as a config file's endpoint is.
 */
export function functionWebhookSettings(config: ConfigFile, env: NodeJS.ProcessEnv): WebhookSettings {
  return webhookSettingsFrom(config, env, appSettingsEndpoint(env));
}

function appSettingsEndpoint(env: NodeJS.ProcessEnv): ExtraWebhookEndpoint[] {
  const url = env[WEBHOOK_URL_SETTING]?.trim();
  const events = env[WEBHOOK_EVENTS_SETTING]?.trim();
  if (!url) {
    const stray = [WEBHOOK_SECRET_SETTING, WEBHOOK_EVENTS_SETTING].filter((name) => env[name]);
    if (stray.length === 0) return [];
    throw new TokenkeeperError(
      'config',
      `${stray.join(' and ')} ${stray.length > 1 ? 'are' : 'is'} set but ${WEBHOOK_URL_SETTING} is not: set it to the https URL of the webhook receiver`,
    );
  }
  const secret = env[WEBHOOK_SECRET_SETTING];
  if (!secret) {
    throw new TokenkeeperError(
      'config',
      `${WEBHOOK_URL_SETTING} is set but ${WEBHOOK_SECRET_SETTING} is not: set it to the signing secret, ideally as a Key Vault reference @Microsoft.KeyVault(SecretUri=https://VAULT.vault.azure.net/secrets/NAME)`,
    );
  }
  refuseUnresolvedReference(WEBHOOK_SECRET_SETTING, secret);
  const list = events ? events.split(',').map((part) => part.trim()) : undefined;
  const entry = { url, secret: `env:${WEBHOOK_SECRET_SETTING}`, ...(list && { events: list }) };
  const parsed = loadSchema().configSchema.safeParse({ webhooks: { endpoints: [entry] } });
  const checked = parsed.data?.webhooks?.endpoints[0];
  if (!checked) {
    // The path of an issue is webhooks.endpoints.0.<field>[.<index>].
    const issue = parsed.error?.issues[0];
    const [field, index] = issue?.path.slice(3) ?? [];
    const setting =
      field === 'events'
        ? WEBHOOK_EVENTS_SETTING
        : field === 'url'
          ? WEBHOOK_URL_SETTING
          : WEBHOOK_SECRET_SETTING;
    const which = typeof index === 'number' ? ` entry ${index + 1} ("${list?.[index] ?? ''}")` : '';
    throw new TokenkeeperError('config', `${setting}${which}: ${issue?.message ?? 'invalid'}`);
  }
  return [{ entry: checked, names: { url: WEBHOOK_URL_SETTING, secret: WEBHOOK_SECRET_SETTING } }];
}

/**
 * The webhooks of one Functions instance: the daemon's dispatcher (same signature and payloads) on the shared
 * keeper's events, so a timer run and an HTTP refresh alert alike. The dispatcher gets status changes and failed
 * attempts only, so a connection that needs a human is announced once, not on every run. There is no delivery log
 * file (the data dir is per instance on Flex Consumption): every attempt is a line in the invocation's log.
 * Invocations call settle() before they return, because the host may freeze the instance afterwards.
 */
export class FunctionAlerts {
  #dispatcher: WebhookDispatcher | undefined;
  #unsubscribe: (() => void) | undefined;

  attach(keeper: Keeper, settings: WebhookSettings, logger: Logger): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#dispatcher = undefined;
    if (settings.endpoints.length === 0) return;
    const dispatcher = new WebhookDispatcher({
      ...settings,
      logger,
      log: { append: (record) => logger.info({ ...record }, 'webhook delivery') },
    });
    this.#dispatcher = dispatcher;
    this.#unsubscribe = keeper.onEvent(dispatcher.handle);
  }

  /** Waits up to `graceMs` for the deliveries under way; abandons (and reports) those still retrying then. */
  async settle(context: InvocationContext, graceMs: number): Promise<void> {
    const seconds = Math.round(graceMs / 1000);
    const abandoned =
      (await this.#dispatcher?.settle(graceMs, `not delivered within ${seconds} s of the invocation`)) ?? 0;
    if (abandoned > 0) {
      context.warn(
        `tokenkeeper: ${abandoned} webhook delivery(ies) abandoned: not delivered within ${seconds} s (see the "webhook delivery" lines)`,
      );
    }
  }
}
