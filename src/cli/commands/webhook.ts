import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { resolveSecretRef } from '../../config/secret-ref.ts';
import { checkEndpointUrl } from '../../core/url-policy.ts';
import { DeliveryLog, deliveryLogPath, type DeliveryRecord } from '../../webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../../webhooks/dispatcher.ts';
import { webhookEventTypes, type WebhookEventType, type WebhookPayload } from '../../webhooks/events.ts';
import { webhookSettingsFrom, type WebhookEndpoint } from '../../webhooks/endpoints.ts';
import { configOf, contextOf } from '../context.ts';
import { printJson, table } from '../output.ts';

interface TestOptions {
  url?: string;
  secret?: string;
  event: string;
  connection: string;
  attempts: string;
  json?: boolean;
}

export function registerWebhook(program: Command): void {
  const webhook = program
    .command('webhook')
    .description('webhooks: send a test delivery, read the delivery log');

  webhook
    .command('test')
    .description(
      'send a signed test webhook to every configured endpoint (or to --url) and report the answers',
    )
    .option('--url <url>', 'send to this URL instead of the configured endpoints (needs --secret)')
    .option('--secret <ref>', 'signing secret for --url: env:NAME or file:PATH')
    .option('--event <type>', `event type to send: test, ${webhookEventTypes.join(', ')}`, 'test')
    .option('--connection <name>', 'connection name to put in the sample payload', 'example')
    .option('--attempts <n>', 'attempts per endpoint, with backoff between them', '1')
    .option('--json', 'print JSON')
    .action(async (options: TestOptions, command: Command) => {
      const loaded = configOf(command);
      const { logger } = contextOf(command);
      const settings = webhookSettingsFrom(loaded.config);
      const attempts = Number(options.attempts);
      if (!Number.isInteger(attempts) || attempts < 1 || attempts > 20) {
        throw new TokenkeeperError(
          'usage',
          `--attempts must be a whole number from 1 to 20, got "${options.attempts}"`,
        );
      }
      const type = options.event as WebhookPayload['type'];
      if (type !== 'test' && !webhookEventTypes.includes(type as WebhookEventType)) {
        throw new TokenkeeperError(
          'usage',
          `--event must be one of test, ${webhookEventTypes.join(', ')}; got "${options.event}"`,
        );
      }
      const endpoints = options.url ? [adHocEndpoint(options.url, options.secret)] : settings.endpoints;
      if (endpoints.length === 0) {
        throw new TokenkeeperError(
          'usage',
          'no webhook endpoints: add webhooks.endpoints to the config, or pass --url and --secret',
        );
      }
      const records: DeliveryRecord[] = [];
      const dispatcher = new WebhookDispatcher({
        endpoints,
        retry: { ...settings.retry, maxAttempts: attempts },
        log: new DeliveryLog(deliveryLogPath(loaded.dataDir)),
        logger,
        onAttempt: (record) => records.push(record),
      });
      const payload: WebhookPayload = {
        id: `evt_${randomUUID()}`,
        type,
        createdAt: new Date().toISOString(),
        connection: { name: options.connection, provider: 'example' },
        ...(type === 'needs_reauth' && {
          status: 'needs_reauth',
          previousStatus: 'active',
          error: 'sample error',
        }),
        ...(type === 'provider_retired' && { status: 'provider_retired', previousStatus: 'active' }),
        ...(type === 'recovered' && { status: 'active', previousStatus: 'failing', reason: 'refresh' }),
        ...(type === 'refresh_failed' && { error: 'sample error', attempt: 1 }),
      };
      await Promise.all(endpoints.map((endpoint) => dispatcher.deliver(endpoint, payload)));
      const finals = endpoints.map((endpoint) => records.filter((r) => r.endpoint === endpoint.label).at(-1));
      if (options.json) printJson(records);
      else {
        const rows = records.map((r) => [
          r.endpoint,
          String(r.attempt),
          r.outcome,
          r.status === undefined ? '-' : String(r.status),
          `${r.durationMs ?? 0} ms`,
          r.error ?? '',
        ]);
        process.stdout.write(
          `${table(['ENDPOINT', 'ATTEMPT', 'OUTCOME', 'STATUS', 'TIME', 'ERROR'], rows)}\n`,
        );
      }
      const failed = finals.filter((record) => record?.outcome !== 'delivered').length;
      if (failed > 0) {
        process.stderr.write(
          `tokenkeeper: ${failed} of ${endpoints.length} endpoint(s) did not accept the webhook\n`,
        );
        process.exitCode = 1;
      }
    });

  webhook
    .command('log')
    .description('show recent webhook delivery attempts (from <data dir>/webhook-deliveries.jsonl)')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print JSON')
    .action((options: { limit: string; json?: boolean }, command: Command) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new TokenkeeperError(
          'usage',
          `--limit must be a positive whole number, got "${options.limit}"`,
        );
      }
      const records = new DeliveryLog(deliveryLogPath(configOf(command).dataDir)).recent(limit);
      if (options.json) return printJson(records);
      if (records.length === 0) return void process.stdout.write('No webhook deliveries yet.\n');
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
      process.stdout.write(
        `${table(['TIME (UTC)', 'EVENT', 'CONNECTION', 'ENDPOINT', 'ATTEMPT', 'OUTCOME', 'STATUS', 'ERROR'], rows)}\n`,
      );
    });
}

function adHocEndpoint(url: string, secretRef: string | undefined): WebhookEndpoint {
  if (!secretRef)
    throw new TokenkeeperError('usage', '--url needs --secret env:NAME or file:PATH to sign with');
  const checked = checkEndpointUrl(url, '--url');
  return {
    label: checked.origin,
    url: checked.href,
    secret: resolveSecretRef(secretRef, '--secret'),
    events: new Set(webhookEventTypes),
  };
}
