import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ApiKeyStore, apiKeyStorePath } from '../api-keys/api-key-store.ts';
import { resolveSecretRef } from '../config/secret-ref.ts';
import { describeError, TokenkeeperError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { isLoopbackHost } from '../core/url-policy.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { buildServer } from '../server/app.ts';
import { DEFAULT_LISTEN, localUrlOf, parseListen, readTlsFiles, urlOf } from '../server/listen.ts';
import { LOGIN_TICKET_TTL_MS, pageAccessFor } from '../server/operator-auth.ts';
import type { DaemonObservers } from './observers.ts';

export interface HttpServerOptions {
  /** host:port from the command line; else server.listen from the config, else the default. */
  listen?: string;
  /** PEM files from the command line; else server.tls from the config. */
  tls?: { cert: string; key: string };
  env?: NodeJS.ProcessEnv;
  isStopping: () => boolean;
  /** Receives a one-time operator login link (for an interactive terminal only: never the log). */
  onLoginLink?: (link: string) => void;
}

export interface HttpServer {
  app: FastifyInstance;
  url: string;
  apiKeys: ApiKeyStore;
}

/**
 * The daemon's HTTP server (API, status page, /metrics, health checks), listening. Undefined when only the
 * default address is taken (e.g. a second daemon on another store): that daemon keeps refreshing without one.
 */
export async function startHttpServer(
  keeper: Keeper,
  observers: DaemonObservers,
  logger: Logger,
  options: HttpServerOptions,
): Promise<HttpServer | undefined> {
  const settings = keeper.loaded.server;
  const address = parseListen(
    options.listen ?? settings.listen,
    options.listen ? '--listen' : 'server.listen',
  );
  const tlsPaths = options.tls ?? settings.tls;
  const loopback = isLoopbackHost(address.host);
  if (!loopback && !tlsPaths) {
    logger.warn(
      { host: address.host },
      'serving tokens over plain HTTP on a non-loopback address: anyone on the network path can read them; add --tls-cert/--tls-key or put a TLS proxy in front',
    );
  }
  const apiKeys = ApiKeyStore.open(apiKeyStorePath(keeper.loaded.dataDir));
  const rateLimit = settings.rateLimit;
  let app: FastifyInstance | undefined;
  try {
    app = await buildServer({
      keeper,
      apiKeys,
      metrics: observers.metrics,
      history: observers.history,
      reconnects: observers.reconnects,
      logger,
      tls: tlsPaths && readTlsFiles(tlsPaths),
      rateLimit: { max: rateLimit.max, windowMs: rateLimit.windowSeconds * 1000 },
      statusPage: settings.statusPage,
      pageAccess: pageAccessFor(loopback, settings.loginRequired),
      metricsToken:
        settings.metricsToken && resolveSecretRef(settings.metricsToken, 'server.metricsToken', options.env),
      loopbackHostsOnly: loopback,
      isStopping: options.isStopping,
    });
    await app.listen({ host: address.host, port: address.port });
  } catch (error) {
    apiKeys.close();
    await app?.close();
    // Only the built-in default address may be taken quietly: one the operator chose is an error.
    const explicit = options.listen !== undefined || keeper.loaded.config.server?.listen !== undefined;
    if (explicit || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      throw listenError(error, address, tlsPaths !== undefined);
    }
    logger.warn(
      { listen: DEFAULT_LISTEN },
      'the default server address is in use; running without the HTTP server (pass --listen to choose another)',
    );
    return undefined;
  }
  const bound = { host: address.host, port: (app.server.address() as AddressInfo).port };
  const url = urlOf(bound, tlsPaths !== undefined);
  logger.info({ url, statusPage: `${url}/`, openapi: `${url}/openapi.json` }, 'serving');
  announceLogin(localUrlOf(bound, tlsPaths !== undefined), apiKeys, logger, options.onLoginLink);
  return { app, url, apiKeys };
}

/**
 * Says how operators log in. Given a terminal to show it on, it also issues a one-time login link (like
 * Jupyter's token URL): never into the log, where it would outlive its use.
 */
function announceLogin(
  url: string,
  apiKeys: ApiKeyStore,
  logger: Logger,
  onLoginLink: ((link: string) => void) | undefined,
): void {
  logger.info({ statusPage: `${url}/` }, 'operators log in to the status page with `tokenkeeper login`');
  if (!onLoginLink) return;
  const { ticket } = apiKeys.issueLoginTicket(LOGIN_TICKET_TTL_MS);
  const link = new URL('/login', url);
  link.searchParams.set('ticket', ticket);
  onLoginLink(link.href);
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
