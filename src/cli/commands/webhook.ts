import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import type { ConfigFile } from '../../config/schema.ts';
import { defaultWebhookFormat, formatNeedsSecret } from '../../core/webhook-formats.ts';
import { DeliveryLog, deliveryLogPath, type DeliveryRecord } from '../../webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../../webhooks/dispatcher.ts';
import { webhookEventTypes, type WebhookEventType, type WebhookPayload } from '../../webhooks/events.ts';
import {
  retryPolicyFrom,
  webhookFormats,
  webhookSettingsFrom,
  type WebhookEndpoint,
  type WebhookFormat,
} from '../../webhooks/endpoints.ts';
import { generateWebhookSecret } from '../../webhooks/signature.ts';
import { commandAction, loggerOf, settingsOf } from '../context.ts';
import type { CliIo, CommandResult } from '../io.ts';
import { wholeNumberOption, withDefault } from '../option-values.ts';
import { printJson, table } from '../output.ts';
import { DAY_MS } from '../../core/duration.ts';

export const webhookDefaults = {
  event: 'test',
  connection: 'example',
  attempts: 1,
  limit: 20,
  format: defaultWebhookFormat,
} as const;

export interface WebhookTestOptions {
  /** Send to this URL (in `format`, signed with `secret`) instead of the configured endpoints. */
  url?: string;
  secret?: string;
  format: WebhookFormat;
  event: WebhookPayload['type'];
  connection: string;
  attempts: number;
  json: boolean;
}

interface WebhookTestFlags {
  url?: string;
  secret?: string;
  format?: string;
  event?: string;
  connection?: string;
  attempts?: string;
  json?: boolean;
}

export function webhookTestOptions(flags: WebhookTestFlags): WebhookTestOptions {
  const event = flags.event ?? webhookDefaults.event;
  if (event !== 'test' && !webhookEventTypes.includes(event as WebhookEventType)) {
    throw new TokenkeeperError(
      'usage',
      `--event must be one of test, ${webhookEventTypes.join(', ')}; got "${event}"`,
    );
  }
  const format = flags.format ?? webhookDefaults.format;
  if (!webhookFormats.includes(format as WebhookFormat)) {
    throw new TokenkeeperError(
      'usage',
      `--format must be one of ${webhookFormats.join(', ')}; got "${format}"`,
    );
  }
  if (flags.format !== undefined && flags.url === undefined) {
    throw new TokenkeeperError('usage', '--format is for --url: configured endpoints have their own format');
  }
  return {
    ...(flags.url !== undefined && { url: flags.url }),
    ...(flags.secret !== undefined && { secret: flags.secret }),
    format: format as WebhookFormat,
    event: event as WebhookPayload['type'],
    connection: flags.connection ?? webhookDefaults.connection,
    attempts:
      flags.attempts === undefined
        ? webhookDefaults.attempts
        : wholeNumberOption(flags.attempts, '--attempts', { min: 1, max: 20 }),
    json: flags.json ?? false,
  };
}

export async function runWebhookTest(options: WebhookTestOptions, io: CliIo): Promise<CommandResult> {
  const settings = settingsOf(io);
  const logger = loggerOf(io, settings, 'warn');
  // --url needs none of the configured endpoints: their secrets need not resolve here.
  const endpoints = options.url
    ? [adHocEndpoint(options, options.url, settings.config, io)]
    : webhookSettingsFrom(settings.config, io.env).endpoints;
  if (endpoints.length === 0) {
    throw new TokenkeeperError(
      'usage',
      'no webhook endpoints: add webhooks.endpoints to the config, or pass --url (and --secret)',
    );
  }
  const retry = { ...retryPolicyFrom(settings.config), maxAttempts: options.attempts };
  const log = new DeliveryLog(deliveryLogPath(settings.dataDir));
  const payload = samplePayload(options.event, options.connection, Date.now());
  // One dispatcher per endpoint, so each endpoint's outcome is its own whatever the labels.
  const attempts = await Promise.all(
    endpoints.map(async (endpoint) => {
      const records: DeliveryRecord[] = [];
      const dispatcher = new WebhookDispatcher({
        endpoints: [endpoint],
        retry,
        log,
        logger,
        onAttempt: (record) => records.push(record),
      });
      await dispatcher.deliver(endpoint, payload);
      return records;
    }),
  );
  const records = attempts.flat();
  if (options.json) printJson(io, records);
  else {
    const rows = records.map((r) => [
      r.endpoint,
      String(r.attempt),
      r.outcome,
      r.status === undefined ? '-' : String(r.status),
      `${r.durationMs ?? 0} ms`,
      r.error ?? '',
    ]);
    io.stdout.write(`${table(['ENDPOINT', 'ATTEMPT', 'OUTCOME', 'STATUS', 'TIME', 'ERROR'], rows, io)}\n`);
  }
  const failed = attempts.filter((tries) => tries.at(-1)?.outcome !== 'delivered').length;
  if (failed === 0) return;
  io.stderr.write(`tokenkeeper: ${failed} of ${endpoints.length} endpoint(s) did not accept the webhook\n`);
  return 1;
}

/** A payload of `type` with sample content, as the engine would send it for connection `name`. */
function samplePayload(type: WebhookPayload['type'], name: string, now: number): WebhookPayload {
  return {
    id: `evt_${randomUUID()}`,
    type,
    createdAt: new Date(now).toISOString(),
    connection: { name, provider: 'example' },
    ...(type === 'needs_reauth' && {
      status: 'needs_reauth',
      previousStatus: 'active',
      error: 'sample error',
    }),
    ...(type === 'provider_retired' && {
      status: 'provider_retired',
      previousStatus: 'active',
      successor: 'example-next',
    }),
    ...(type === 'expiring_soon' && {
      expiring: { what: 'refresh_token', at: new Date(now + DAY_MS).toISOString() },
    }),
    ...(type === 'replaced' && {
      status: 'active',
      replaced: { previousProvider: 'example-old', revoked: true },
    }),
    ...(type === 'recovered' && { status: 'active', previousStatus: 'failing', reason: 'refresh' }),
    ...(type === 'refresh_failed' && { error: 'sample error', attempt: 1, retryInSeconds: 30 }),
  };
}

/** Prints a new signing secret for a webhook endpoint (and for its receiver). */
export function runWebhookSecret(_options: object, io: CliIo): void {
  io.stdout.write(`${generateWebhookSecret()}\n`);
  io.stderr.write(
    "A new Standard Webhooks signing secret. Store it where the endpoint's secret (env:NAME or file:PATH) reads it, and give the receiver the same value.\n",
  );
}

export interface WebhookLogOptions {
  limit: number;
  json: boolean;
}

export function webhookLogOptions(flags: { limit?: string; json?: boolean }): WebhookLogOptions {
  return {
    limit: flags.limit === undefined ? webhookDefaults.limit : wholeNumberOption(flags.limit, '--limit'),
    json: flags.json ?? false,
  };
}

export function runWebhookLog(options: WebhookLogOptions, io: CliIo): void {
  const records = new DeliveryLog(deliveryLogPath(settingsOf(io).dataDir)).recent(options.limit);
  if (options.json) return printJson(io, records);
  if (records.length === 0) return void io.stdout.write('No webhook deliveries yet.\n');
  const rows = records.map((r) => [
    r.at.replace('T', ' ').slice(0, 19),
    r.event,
    r.connection,
    r.endpoint,
    String(r.attempt),
    r.outcome,
    r.status === undefined ? '-' : String(r.status),
    r.error ?? '',
  ]);
  io.stdout.write(
    `${table(['TIME (UTC)', 'EVENT', 'CONNECTION', 'ENDPOINT', 'ATTEMPT', 'OUTCOME', 'STATUS', 'ERROR'], rows, io)}\n`,
  );
}

export function registerWebhook(program: Command): void {
  const webhook = program
    .command('webhook')
    .description('webhooks: send a test delivery, make a signing secret, read the delivery log');

  webhook
    .command('test')
    .description(
      'send a test webhook to every configured endpoint (or to --url), in its format, and report the answers',
    )
    .option('--url <url>', 'send to this URL instead of the configured endpoints')
    .option(
      '--format <format>',
      withDefault(`the format for --url: ${webhookFormats.join(', ')}`, webhookDefaults.format),
    )
    .option(
      '--secret <ref>',
      'whsec_ signing secret for --url (required for standard): env:NAME or file:PATH',
    )
    .option(
      '--event <type>',
      withDefault(`event type to send: test, ${webhookEventTypes.join(', ')}`, webhookDefaults.event),
    )
    .option(
      '--connection <name>',
      withDefault('connection name to put in the sample payload', webhookDefaults.connection),
    )
    .option(
      '--attempts <n>',
      withDefault('attempts per endpoint, with backoff between them', webhookDefaults.attempts),
    )
    .option('--json', 'print JSON')
    .action(commandAction(webhookTestOptions, runWebhookTest));

  webhook
    .command('secret')
    .description('print a new whsec_ signing secret for a webhook endpoint and its receiver')
    .action(commandAction(() => ({}), runWebhookSecret));

  webhook
    .command('log')
    .description('show recent webhook delivery attempts (from <data dir>/webhook-deliveries.jsonl)')
    .option('--limit <n>', withDefault('how many', webhookDefaults.limit))
    .option('--json', 'print JSON')
    .action(commandAction(webhookLogOptions, runWebhookLog));
}

/** The --url endpoint, checked and resolved as a configured one is (only --url's own secret is read). */
function adHocEndpoint(
  options: WebhookTestOptions,
  url: string,
  config: ConfigFile,
  io: CliIo,
): WebhookEndpoint {
  if (!options.secret && formatNeedsSecret(options.format)) {
    throw new TokenkeeperError(
      'usage',
      '--url needs --secret env:NAME or file:PATH of a whsec_ secret to sign with',
    );
  }
  const entry = {
    url,
    format: options.format,
    ...(options.secret !== undefined && { secret: options.secret }),
  };
  const [endpoint] = webhookSettingsFrom({ server: config.server }, io.env, [
    { entry, names: { url: '--url', secret: '--secret' } },
  ]).endpoints;
  return endpoint as WebhookEndpoint;
}
