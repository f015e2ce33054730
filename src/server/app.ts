import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { ApiKeyStore } from '../api-keys/api-key-store.ts';
import { configDefaults } from '../config/defaults.ts';
import { describeError, TokenkeeperError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Keeper } from '../keeper/keeper.ts';
import { isLoopbackHost } from '../core/url-policy.ts';
import { ApiError, apiErrorMessage, httpStatusByErrorCode, type ErrorBody } from './errors.ts';
import type { RefreshHistory } from './history.ts';
import type { DaemonMetrics } from './metrics.ts';
import type { ReconnectFlows } from './reconnect.ts';
import { apiRoutes } from './routes/api.ts';
import { opsRoutes } from './routes/ops.ts';
import { pageRoutes } from './routes/pages.ts';
import { trackRequests } from './shutdown.ts';
import { bearerToken, OperatorSessions, sameSecret, type PageAccess } from './operator-auth.ts';

export interface ServerOptions {
  keeper: Keeper;
  apiKeys: ApiKeyStore;
  metrics: DaemonMetrics;
  history: RefreshHistory;
  reconnects: ReconnectFlows;
  logger: Logger;
  rateLimit?: { max: number; windowMs: number };
  statusPage?: boolean;
  /**
   * Who may read the status page and /metrics without logging in: 'open' (anyone who reaches the port; fit for
   * a loopback listen) or 'operator' (default). Page actions always need an operator session.
   */
  pageAccess?: PageAccess;
  /** A bearer token that may read /metrics (for Prometheus), besides operator sessions. */
  metricsToken?: string;
  sessions?: OperatorSessions;
  /** Accept only loopback Host headers (default true): stops DNS-rebinding pages from reading the server. */
  loopbackHostsOnly?: boolean;
  tls?: { cert: string | Buffer; key: string | Buffer };
  isStopping?: () => boolean;
}

export const defaultRateLimit = {
  max: configDefaults.server.rateLimit.max,
  windowMs: configDefaults.server.rateLimit.windowSeconds * 1000,
};

function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** The daemon's HTTP server: /v1 API, status page, metrics, health checks and the OpenAPI document. */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { logger, metrics } = options;
  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024,
    return503OnClosing: true,
    ...(options.tls && { https: { cert: options.tls.cert, key: options.tls.key } }),
  }) as unknown as FastifyInstance;

  app.decorateRequest('apiKey', null);
  trackRequests(app);

  if (options.loopbackHostsOnly ?? true) {
    app.addHook('onRequest', async (request) => {
      const host = request.hostname;
      if (!host || !isLoopbackHost(host)) {
        throw new ApiError(
          421,
          'bad_host',
          'this server answers loopback host names only (127.0.0.1, ::1, localhost); bind it to another address with --listen to serve others',
        );
      }
    });
  }

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequest(route, request.method, reply.statusCode);
    logger.debug(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        apiKey: request.apiKey?.id,
      },
      'http request',
    );
  });

  app.setErrorHandler((error: FastifyError | ApiError | TokenkeeperError, request, reply) => {
    if (error instanceof ApiError) {
      void reply.headers(error.headers);
      return reply.code(error.statusCode).send(errorBody(error.code, error.message));
    }
    if (error instanceof TokenkeeperError) {
      return reply
        .code(httpStatusByErrorCode[error.code])
        .send(errorBody(error.code, apiErrorMessage(error)));
    }
    if ('validation' in error && error.validation) {
      return reply.code(400).send(errorBody('bad_request', error.message));
    }
    const status = error.statusCode ?? 500;
    if (status < 500) return reply.code(status).send(errorBody('bad_request', error.message));
    logger.error(
      { method: request.method, route: request.routeOptions.url, error: describeError(error) },
      'request failed',
    );
    return reply.code(500).send(errorBody('internal', 'internal error; see the daemon log'));
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  await app.register(apiRoutes, {
    prefix: '/v1',
    keeper: options.keeper,
    apiKeys: options.apiKeys,
    rateLimit: options.rateLimit ?? defaultRateLimit,
  });
  const sessions = options.sessions ?? new OperatorSessions();
  const access = options.pageAccess ?? 'operator';
  const { metricsToken } = options;
  await app.register(opsRoutes, {
    keeper: options.keeper,
    metrics,
    isStopping: options.isStopping ?? (() => false),
    // With a metrics token configured, nobody scrapes without it (or a session), loopback or not.
    mayScrape: (request) => {
      const presented = bearerToken(request);
      if (metricsToken && presented !== undefined) return sameSecret(presented, metricsToken);
      if (sessions.of(request)) return true;
      return access === 'open' && !metricsToken;
    },
  });
  if (options.statusPage ?? true) {
    await app.register(pageRoutes, {
      keeper: options.keeper,
      history: options.history,
      metrics,
      reconnects: options.reconnects,
      apiKeys: options.apiKeys,
      sessions,
      access,
      secure: options.tls !== undefined,
    });
  }
  return app;
}
