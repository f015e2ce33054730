import type { InvocationContext } from '@azure/functions';
import type { ConfigFile } from '../config/schema.ts';
import { loadSchema } from '../config/schema-loader.ts';
import { describeError, TokenkeeperError } from '../core/errors.ts';
import type { KeeperEvent } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import type { Keeper } from '../keeper/keeper.ts';
import type { NoticeMarkers } from '../stores/store.ts';
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
 *
 * `expiring_soon` is raised again on every timer run while its window is open, on any instance, and an instance
 * keeps no outbox: it is sent unless the store's notice marker of its id exists (Key Vault: a blob next to the
 * locks), and the marker is written once every subscribed endpoint has it. Written after the delivery, not before:
 * at least once, not at most once. A run that dies between the delivery and the marker, or two instances that
 * check at the same moment, send it twice with the same webhook id (receivers dedupe on it); a marker written
 * first would lose the warning for good when the delivery then fails, and a lost warning is the failure that
 * matters: the connection dies unnoticed.
 */
export class FunctionAlerts {
  #dispatcher: WebhookDispatcher | undefined;
  #unsubscribe: (() => void) | undefined;
  #markers: NoticeMarkers | undefined;
  /** Marker checks under way (settle() waits for them: they may still send). */
  readonly #checks = new Set<Promise<void>>();
  /** Notices sent in this invocation: how many endpoints must have them, and how many do. */
  readonly #sent = new Map<string, { endpoints: number; delivered: number }>();

  attach(keeper: Keeper, settings: WebhookSettings, logger: Logger): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#dispatcher = undefined;
    this.#markers = undefined;
    if (settings.endpoints.length === 0) return;
    const dispatcher = new WebhookDispatcher({
      ...settings,
      logger,
      log: {
        append: (record) => {
          logger.info({ ...record }, 'webhook delivery');
          const sent = this.#sent.get(record.eventId);
          if (sent && record.outcome === 'delivered') sent.delivered++;
        },
      },
    });
    this.#dispatcher = dispatcher;
    const markers = keeper.store.openNoticeMarkers?.();
    this.#markers = markers;
    const endpoints = settings.endpoints.filter((endpoint) => endpoint.events.has('expiring_soon')).length;
    this.#unsubscribe = keeper.onEvent((event) => {
      if (event.type !== 'expiring_soon' || !markers) return dispatcher.handle(event);
      if (endpoints === 0) return;
      const check = this.#sendUnlessMarked(event, markers, endpoints, dispatcher, logger);
      this.#checks.add(check);
      void check.finally(() => this.#checks.delete(check));
    });
  }

  async #sendUnlessMarked(
    event: KeeperEvent & { type: 'expiring_soon' },
    markers: NoticeMarkers,
    endpoints: number,
    dispatcher: WebhookDispatcher,
    logger: Logger,
  ): Promise<void> {
    try {
      if (await markers.has(event.eventId)) return;
    } catch (error) {
      // Unknown is sent: a duplicate (same webhook id) is better than a warning nobody gets.
      logger.warn(
        { event: event.eventId, error: describeError(error) },
        'cannot read the notice marker; sending',
      );
    }
    if (this.#sent.has(event.eventId)) return; // raised twice in this invocation
    this.#sent.set(event.eventId, { endpoints, delivered: 0 });
    dispatcher.handle(event);
  }

  /**
   * Waits up to `graceMs` for the deliveries under way; abandons (and reports) those still retrying then. Marks
   * the notices every endpoint received.
   */
  async settle(context: InvocationContext, graceMs: number): Promise<void> {
    const seconds = Math.round(graceMs / 1000);
    const deadline = Date.now() + graceMs;
    await settledBy(Promise.all([...this.#checks]), graceMs);
    const abandoned =
      (await this.#dispatcher?.settle(
        Math.max(0, deadline - Date.now()),
        `not delivered within ${seconds} s of the invocation`,
      )) ?? 0;
    if (abandoned > 0) {
      context.warn(
        `tokenkeeper: ${abandoned} webhook delivery(ies) abandoned: not delivered within ${seconds} s (see the "webhook delivery" lines)`,
      );
    }
    const sent = [...this.#sent].filter(([, { endpoints, delivered }]) => delivered >= endpoints);
    this.#sent.clear();
    for (const [id] of sent) {
      try {
        await this.#markers?.mark(id);
      } catch (error) {
        context.warn(`tokenkeeper: ${describeError(error)} (the notice may be sent again)`);
      }
    }
  }
}

/** Resolves when `promise` settles or after `ms`, whichever is first. */
async function settledBy(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([promise.then(() => undefined), late]);
  clearTimeout(timer);
}
