import type { FastifyInstance } from 'fastify';
import { formatDuration } from '../core/duration.ts';
import type { Logger } from '../core/logger.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { closeServer } from '../server/shutdown.ts';
import { daemonDefaults } from './defaults.ts';
import { startHttpServer, type HttpServer } from './http-server.ts';
import { startObservers } from './observers.ts';
import { scheduleOverview } from './overview.ts';
import { runScheduler, type SchedulerStats } from './scheduler.ts';

export interface DaemonOptions {
  logger: Logger;
  /** Serve HTTP (default true; `server.enabled: false` in the config turns it off too). Webhooks run either way. */
  server?: boolean;
  /** host:port of the HTTP server; default server.listen from the config, else 127.0.0.1:8977. Port 0 picks one. */
  listen?: string;
  /** PEM certificate and key files; default server.tls from the config. */
  tls?: { cert: string; key: string };
  /** Refreshes at once; default daemon.concurrency from the config, else 4. */
  concurrency?: number;
  /** Stop by itself after this long. */
  durationMs?: number;
  /** Stop when one of these arrives (the CLI passes SIGTERM and SIGINT); default none. */
  stopSignals?: readonly NodeJS.Signals[];
  /** Where secret references of the config (webhook secrets, the metrics token) are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Receives a one-time operator login link once the server listens (for a terminal, never a log). */
  onLoginLink?: (link: string) => void;
}

/** A running daemon. */
export interface Daemon {
  /** The HTTP server's base URL; undefined without a server. */
  readonly url?: string;
  /** The HTTP server itself (fastify), e.g. for in-process requests with `inject()`. */
  readonly server?: FastifyInstance;
  readonly webhookEndpoints: number;
  /** Settles once the daemon has stopped and shut everything down. */
  readonly done: Promise<SchedulerStats>;
  /** Starts nothing new, lets in-flight refreshes, requests and webhook deliveries finish, then stops. */
  stop(): Promise<SchedulerStats>;
}

/**
 * `tokenkeeper run` as a library call: the scheduler, the HTTP server (API, status page, /metrics, health
 * checks), webhooks, metrics and refresh history around one keeper, until stopped. Resolves once everything
 * serves. On stop: readiness turns 503, in-flight refreshes finish, requests get a grace period, pending webhooks
 * a shorter one, and `done` settles. The keeper stays open: it is the caller's to close.
 */
export async function startDaemon(keeper: Keeper, options: DaemonOptions): Promise<Daemon> {
  const { logger } = options;
  const settings = keeper.loaded;
  const stopping = new AbortController();
  const observers = await startObservers(keeper, logger, options.env);
  let http: HttpServer | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await observers.reconnects.cancel();
      if (http) await closeServer(http.app, daemonDefaults.requestGraceMs);
      http?.apiKeys.close();
      await observers.dispatcher.drain(daemonDefaults.webhookDrainMs);
      observers.unsubscribe();
    })());

  const signals = options.stopSignals ?? [];
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping: finishing in-flight refreshes');
    stopping.abort();
  };
  let timer: NodeJS.Timeout | undefined;
  const release = () => {
    clearTimeout(timer);
    for (const signal of signals) process.off(signal, onSignal);
  };

  let overview: Awaited<ReturnType<typeof scheduleOverview>>;
  try {
    if (options.server !== false && settings.server.enabled) {
      http = await startHttpServer(keeper, observers, logger, {
        listen: options.listen,
        tls: options.tls,
        env: options.env,
        isStopping: () => stopping.signal.aborted,
        onLoginLink: options.onLoginLink,
      });
    }
    if (observers.dispatcher.endpointCount > 0) {
      logger.info({ endpoints: observers.dispatcher.endpointCount }, 'webhooks enabled');
    }
    for (const signal of signals) process.once(signal, onSignal);
    if (options.durationMs !== undefined)
      timer = setTimeout(() => stopping.abort(), options.durationMs).unref();
    overview = await scheduleOverview(keeper);
  } catch (error) {
    stopping.abort();
    release();
    await close();
    throw error;
  }

  const next = overview.nextRefreshAt;
  logger.info(
    {
      store: keeper.store.location,
      connections: overview.connections,
      nextRefreshIn: next === undefined ? '-' : formatDuration(Math.max(0, next - keeper.now())),
      ...(http && { url: http.url }),
    },
    'tokenkeeper running',
  );
  const done = (async () => {
    try {
      const stats = await runScheduler(keeper, {
        concurrency: options.concurrency ?? settings.daemon.concurrency,
        maxSleepMs: settings.daemon.maxSleepSeconds * 1000,
        signal: stopping.signal,
        logger,
      });
      await close();
      logger.info({ refreshed: stats.refreshed, failed: stats.failed }, 'stopped');
      return stats;
    } finally {
      stopping.abort();
      release();
      await close();
    }
  })();
  return {
    url: http?.url,
    server: http?.app,
    webhookEndpoints: observers.dispatcher.endpointCount,
    done,
    stop() {
      stopping.abort();
      return done;
    },
  };
}
