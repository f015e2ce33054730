import type { FastifyInstance, FastifyRequest } from 'fastify';
import { describeError } from '../../core/errors.ts';
import type { Keeper } from '../../keeper/keeper.ts';
import type { DaemonMetrics } from '../metrics.ts';
import { openApiDocument } from '../openapi.ts';

export interface OpsRouteOptions {
  keeper: Keeper;
  metrics: DaemonMetrics;
  isStopping: () => boolean;
  /** Whether this request may read /metrics (connection names and states are in there). */
  mayScrape: (request: FastifyRequest) => boolean;
}

const READY_TIMEOUT_MS = 2_000;

/** /healthz, /readyz and /openapi.json: open (they name no connection); /metrics as `mayScrape` says. */
export async function opsRoutes(app: FastifyInstance, options: OpsRouteOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (options.isStopping()) return reply.code(503).send({ status: 'stopping' });
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`store did not answer within ${READY_TIMEOUT_MS} ms`)),
          READY_TIMEOUT_MS,
        );
      });
      const connections = await Promise.race([options.keeper.status(), timeout]).finally(() =>
        clearTimeout(timer),
      );
      return { status: 'ready', connections: connections.length };
    } catch (error) {
      options.metrics.storeReadFailed();
      return reply.code(503).send({ status: 'not_ready', reason: describeError(error) });
    }
  });

  app.get('/metrics', async (request, reply) => {
    if (!options.mayScrape(request)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="tokenkeeper metrics"')
        .send({
          error: {
            code: 'unauthenticated',
            message:
              'send the metrics token (server.metricsToken) as "Authorization: Bearer …", or log in with `tokenkeeper login`',
          },
        });
    }
    const text = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(text);
  });

  app.get('/openapi.json', async () => openApiDocument);
}
