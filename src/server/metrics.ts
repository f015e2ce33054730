import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KeeperEvent } from '../core/events.ts';
import { needsHuman, type ConnectionStatus } from '../core/types.ts';
import type { ConnectionSummary } from '../keeper/keeper.ts';
import type { DeliveryRecord } from '../webhooks/delivery-log.ts';

const statuses: readonly ConnectionStatus[] = [
  'active',
  'refreshing',
  'needs_reauth',
  'provider_retired',
  'failing',
];

export interface MetricsSource {
  /** Current connections (no secrets); read on every scrape. */
  status(): Promise<ConnectionSummary[]>;
  now(): number;
}

/**
 * The daemon's Prometheus metrics, in a registry of its own. Labels are connection names, provider ids,
 * outcomes and routes: never tokens, secrets or key ids.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly refreshes: Counter<'provider' | 'outcome'>;
  private readonly lockWait: Histogram<'provider'>;
  private readonly storeErrors: Counter<'operation'>;
  private readonly webhookDeliveries: Counter<'event' | 'outcome'>;
  private readonly apiRequests: Counter<'route' | 'method' | 'status'>;
  private pending?: Promise<ConnectionSummary[]>;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.refreshes = new Counter({
      name: 'tokenkeeper_refreshes_total',
      help: 'Refresh attempts by provider and outcome (success, failed, needs_reauth, provider_retired).',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    this.lockWait = new Histogram({
      name: 'tokenkeeper_lock_wait_seconds',
      help: 'Time spent waiting for the per-connection store lock before a refresh.',
      labelNames: ['provider'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers,
    });
    this.storeErrors = new Counter({
      name: 'tokenkeeper_store_errors_total',
      help: 'Store failures: refresh (a refresh failed on the store), save_tokens (new tokens went to the rescue journal), read (status read for the API, status page or metrics).',
      labelNames: ['operation'],
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'tokenkeeper_webhook_deliveries_total',
      help: 'Webhook delivery attempts by event and outcome (delivered, retrying, failed, abandoned, postponed).',
      labelNames: ['event', 'outcome'],
      registers,
    });
    this.apiRequests = new Counter({
      name: 'tokenkeeper_http_requests_total',
      help: 'HTTP requests served, by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    const read = () => this.readConnections(source);
    // The gauges are computed at scrape time from one store read.
    /** A gauge of seconds until a time each connection may have (negative once it has passed). */
    const secondsUntil = (name: string, help: string, at: (c: ConnectionSummary) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['connection', 'provider'],
        registers,
        async collect() {
          const connections = await read();
          this.reset();
          const now = source.now();
          for (const c of connections) {
            const moment = at(c);
            if (moment !== undefined)
              this.set({ connection: c.name, provider: c.provider }, (moment - now) / 1000);
          }
        },
      });
    secondsUntil(
      'tokenkeeper_token_expiry_seconds',
      "Seconds until the connection's access token expires (negative once expired).",
      (c) => c.expiresAt,
    );
    secondsUntil(
      'tokenkeeper_refresh_token_expiry_seconds',
      "Seconds until the connection's refresh token dies (negative once it has), for connections whose refresh tokens expire by time.",
      (c) => c.refreshTokenExpiresAt,
    );
    new Gauge({
      name: 'tokenkeeper_connections_expiring_soon',
      help: 'Connections whose refresh token dies within its warning window: a human should reconnect them soon.',
      registers,
      async collect() {
        const connections = await read();
        this.set(connections.filter((c) => c.expiringSoon).length);
      },
    });
    new Gauge({
      name: 'tokenkeeper_connection_status',
      help: 'Current status of each connection: 1 for the status it is in, 0 for the others.',
      labelNames: ['connection', 'provider', 'status'],
      registers,
      async collect() {
        const connections = await read();
        this.reset();
        for (const c of connections) {
          for (const candidate of statuses) {
            this.set(
              { connection: c.name, provider: c.provider, status: candidate },
              c.status === candidate ? 1 : 0,
            );
          }
        }
      },
    });
  }

  /** A KeeperEventListener. */
  readonly handle = (event: KeeperEvent): void => {
    switch (event.type) {
      case 'refreshed':
        this.refreshes.inc({ provider: event.provider, outcome: 'success' });
        break;
      case 'refresh_failed':
        this.refreshes.inc({ provider: event.provider, outcome: 'failed' });
        break;
      case 'status_changed':
        if (needsHuman(event.to)) {
          this.refreshes.inc({ provider: event.provider, outcome: event.to });
        }
        break;
      case 'lock_acquired':
        this.lockWait.observe({ provider: event.provider }, event.waitedMs / 1000);
        break;
      case 'store_error':
        this.storeErrors.inc({ operation: 'refresh' });
        break;
      case 'rescued':
        this.storeErrors.inc({ operation: 'save_tokens' });
        break;
    }
  };

  storeReadFailed(): void {
    this.storeErrors.inc({ operation: 'read' });
  }

  webhookAttempt(record: DeliveryRecord): void {
    this.webhookDeliveries.inc({ event: record.event, outcome: record.outcome });
  }

  httpRequest(route: string, method: string, status: number): void {
    this.apiRequests.inc({ route, method, status: String(status) });
  }

  /** One store read shared by the gauges of a scrape; a failure counts as a store error and shows no series. */
  private readConnections(source: MetricsSource): Promise<ConnectionSummary[]> {
    this.pending ??= source
      .status()
      .catch(() => {
        this.storeReadFailed();
        return [];
      })
      .finally(() => setImmediate(() => (this.pending = undefined)));
    return this.pending;
  }
}
