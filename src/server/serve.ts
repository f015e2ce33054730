import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ApiKeyStore, apiKeyStorePath } from '../api-keys/api-key-store.ts';
import { describeError, TokenkeeperError } from '../core/errors.ts';
import type { KeeperEvent, KeeperEventListener } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { isLoopbackHost } from '../core/url-policy.ts';
import { DeliveryLog, deliveryLogPath } from '../webhooks/delivery-log.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { webhookSettingsFrom } from '../webhooks/endpoints.ts';
import { buildServer, defaultRateLimit } from './app.ts';
import { RefreshHistory } from './history.ts';
import { localUrlOf, parseListen, readTlsFiles, urlOf, DEFAULT_LISTEN } from './listen.ts';
import { DaemonMetrics } from './metrics.ts';
import { ReconnectFlows } from './reconnect.ts';
import { closeServer } from './shutdown.ts';
import { LOGIN_TICKET_TTL_MS, type PageAccess } from './operator-auth.ts';
import { resolveSecretRef } from '../config/secret-ref.ts';

export interface DaemonServiceOptions {
  /** Serve HTTP (default true). Webhooks run either way. */
  server: boolean;
  /** host:port; default server.listen from config, else 127.0.0.1:8977. */
  listen?: string;
  tls?: { cert: string; key: string };
  env?: NodeJS.ProcessEnv;
  /** True once the daemon is shutting down (readiness turns 503). */
  isStopping: () => boolean;
}

export interface DaemonServices {
  /** The server's base URL, when serving. */
  url?: string;
  webhookEndpoints: number;
  close(): Promise<void>;
}

const WEBHOOK_DRAIN_MS = 5_000;
/** How long requests in flight (a token request may be waiting on a refresh) get to finish on shutdown. */
const REQUEST_GRACE_MS = 20_000;

/** A listener that never lets an exception reach the refresh engine. */
function guarded(listener: KeeperEventListener, logger: Logger, what: string): KeeperEventListener {
  return (event: KeeperEvent) => {
    try {
      listener(event);
    } catch (error) {
      logger.error({ event: event.type, error: describeError(error) }, `${what} failed to handle an event`);
    }
  };
}

/**
 * Everything `tokenkeeper run` offers besides the scheduler: metrics, refresh history, webhooks and the HTTP
 * server (API, status page, /metrics, health checks).
 */
export async function startDaemonServices(
  keeper: Keeper,
  logger: Logger,
  options: DaemonServiceOptions,
): Promise<DaemonServices> {
  const config = keeper.loaded.config;
  const webhookSettings = webhookSettingsFrom(config, options.env);
  const metrics = new DaemonMetrics(keeper);
  const history = new RefreshHistory({ now: () => keeper.now() });
  const dispatcher = new WebhookDispatcher({
    ...webhookSettings,
    log: new DeliveryLog(deliveryLogPath(keeper.loaded.dataDir)),
    logger,
    onAttempt: (record) => metrics.webhookAttempt(record),
  });
  const unsubscribe = [
    keeper.onEvent(guarded(metrics.handle, logger, 'metrics')),
    keeper.onEvent(guarded(history.handle, logger, 'refresh history')),
    keeper.onEvent(guarded(dispatcher.handle, logger, 'webhooks')),
  ];
  // A fleet worker sees only the connections it refreshes; reading (and decrypting) all of them is for one daemon.
  if (!keeper.store.joinFleet) history.seed(await keeper.status().catch(() => []));

  const reconnects = new ReconnectFlows(keeper, logger, (summary, previous) => {
    history.add(summary.name, { at: keeper.now(), kind: 'reconnected', expiresAt: summary.expiresAt });
    if (previous !== 'active') {
      dispatcher.send({
        type: 'recovered',
        connection: { name: summary.name, provider: summary.provider },
        status: 'active',
        previousStatus: previous,
        reason: 'reconnected',
      });
    }
  });

  let app: FastifyInstance | undefined;
  let apiKeys: ApiKeyStore | undefined;
  let url: string | undefined;
  const serve = options.server && config.server?.enabled !== false;
  if (serve) {
    const address = parseListen(
      options.listen ?? config.server?.listen ?? DEFAULT_LISTEN,
      options.listen ? '--listen' : 'server.listen',
    );
    const tlsPaths = options.tls ?? config.server?.tls;
    const loopback = isLoopbackHost(address.host);
    if (!loopback && !tlsPaths) {
      logger.warn(
        { host: address.host },
        'serving tokens over plain HTTP on a non-loopback address: anyone on the network path can read them; add --tls-cert/--tls-key or put a TLS proxy in front',
      );
    }
    apiKeys = ApiKeyStore.open(apiKeyStorePath(keeper.loaded.dataDir));
    const rateLimit = config.server?.rateLimit;
    try {
      app = await buildServer({
        keeper,
        apiKeys,
        metrics,
        history,
        reconnects,
        logger,
        tls: tlsPaths && readTlsFiles(tlsPaths),
        rateLimit: rateLimit
          ? { max: rateLimit.max, windowMs: (rateLimit.windowSeconds ?? 60) * 1000 }
          : defaultRateLimit,
        statusPage: config.server?.statusPage ?? true,
        pageAccess: pageAccessFor(loopback, config.server?.loginRequired),
        metricsToken:
          config.server?.metricsToken &&
          resolveSecretRef(config.server.metricsToken, 'server.metricsToken', options.env),
        loopbackHostsOnly: loopback,
        isStopping: options.isStopping,
      });
      await app.listen({ host: address.host, port: address.port });
    } catch (error) {
      apiKeys.close();
      await app?.close();
      app = undefined;
      const explicit = options.listen !== undefined || config.server?.listen !== undefined;
      if (explicit || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        unsubscribe.forEach((off) => off());
        throw listenError(error, address, tlsPaths !== undefined);
      }
      // Only the default address is taken (e.g. a second daemon on another store): keep refreshing.
      logger.warn(
        { listen: DEFAULT_LISTEN },
        'the default server address is in use; running without the HTTP server (pass --listen to choose another)',
      );
    }
    if (app) {
      const bound = app.server.address() as AddressInfo;
      url = urlOf({ host: address.host, port: bound.port }, tlsPaths !== undefined);
      logger.info({ url, statusPage: `${url}/`, openapi: `${url}/openapi.json` }, 'serving');
      if (apiKeys) {
        announceLogin(
          localUrlOf({ host: address.host, port: bound.port }, tlsPaths !== undefined),
          apiKeys,
          logger,
        );
      }
    }
  }
  if (dispatcher.endpointCount > 0) {
    logger.info({ endpoints: dispatcher.endpointCount }, 'webhooks enabled');
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    webhookEndpoints: dispatcher.endpointCount,
    close() {
      closing ??= (async () => {
        await reconnects.cancel();
        if (app) await closeServer(app, REQUEST_GRACE_MS);
        apiKeys?.close();
        await dispatcher.drain(WEBHOOK_DRAIN_MS);
        unsubscribe.forEach((off) => off());
      })();
      return closing;
    },
  };
}

/**
 * Says how operators log in. On an interactive terminal it also prints a one-time login link (like Jupyter's
 * token URL): to the terminal only, never into the log, where it would outlive its use.
 */
function announceLogin(url: string, apiKeys: ApiKeyStore, logger: Logger): void {
  logger.info({ statusPage: `${url}/` }, 'operators log in to the status page with `tokenkeeper login`');
  if (!process.stderr.isTTY) return;
  const { ticket } = apiKeys.issueLoginTicket(LOGIN_TICKET_TTL_MS);
  const link = new URL('/login', url);
  link.searchParams.set('ticket', ticket);
  process.stderr.write(`\n  Status page (one-time operator login, valid 10 minutes): ${link.href}\n\n`);
}

/** Read-only pages stay open only on a loopback listen, and only while the config does not ask for a login. */
export function pageAccessFor(loopback: boolean, loginRequired: boolean | undefined): PageAccess {
  return loopback && !loginRequired ? 'open' : 'operator';
}

function listenError(
  error: unknown,
  address: { host: string; port: number },
  tls: boolean,
): TokenkeeperError {
  if (error instanceof TokenkeeperError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${address.host}:${address.port}`;
  if (code === 'EADDRINUSE') {
    return new TokenkeeperError(
      'usage',
      `cannot listen on ${where}: the port is in use; pass --listen with a free port, or --no-server`,
    );
  }
  if (tls && /PEM|certificate|key/i.test(describeError(error))) {
    return new TokenkeeperError('config', `the TLS certificate or key was rejected: ${describeError(error)}`);
  }
  return new TokenkeeperError('usage', `cannot listen on ${where}: ${describeError(error)}`);
}
