import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { keyAllows, type ApiKeyStore } from '../../api-keys/api-key-store.ts';
import { summaryJson } from '../../keeper/summary-json.ts';
import { TokenkeeperError } from '../../core/errors.ts';
import { expiresInSeconds } from '../../core/expiry.ts';
import type { Keeper } from '../../keeper/keeper.ts';
import { authenticate, requireScope } from '../auth.ts';
import { ApiError } from '../errors.ts';

export interface ApiRouteOptions {
  keeper: Keeper;
  apiKeys: ApiKeyStore;
  rateLimit: { max: number; windowMs: number };
}

type NameParams = { Params: { name: string } };

const iso = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());

/** /v1: every route needs an API key, is limited per key, and sees only the connections in the key's scope. */
export async function apiRoutes(app: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const { keeper } = options;
  app.addHook('onRequest', authenticate(options.apiKeys));
  await app.register(rateLimit, {
    hook: 'preHandler',
    max: options.rateLimit.max,
    timeWindow: options.rateLimit.windowMs,
    keyGenerator: (request) => request.apiKey?.id ?? request.ip,
    errorResponseBuilder: (_request, context) =>
      new ApiError(
        429,
        'rate_limited',
        `this API key made more than ${context.max} requests in ${context.after}; retry after the Retry-After delay`,
      ),
  });

  app.get('/connections', async (request) => {
    const key = request.apiKey;
    const connections = (await keeper.status()).filter((c) => key !== null && keyAllows(key, c.name));
    return { connections: connections.map(summaryJson) };
  });

  app.get<NameParams>('/connections/:name', async (request) => {
    const { name } = request.params;
    requireScope(request, name);
    const summary = await keeper.get(name);
    if (!summary) throw new TokenkeeperError('not_found', `no connection named "${name}"`);
    return summaryJson(summary);
  });

  app.get<NameParams>('/connections/:name/token', async (request, reply) => {
    const { name } = request.params;
    requireScope(request, name);
    const token = await keeper.accessTokenDetails(name);
    void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return {
      connection: name,
      accessToken: token.accessToken,
      tokenType: token.tokenType ?? 'Bearer',
      expiresAt: iso(token.expiresAt),
      expiresIn: expiresInSeconds(token.expiresAt, keeper.now()) ?? null,
      scope: token.scope ?? null,
    };
  });

  app.post<NameParams>('/connections/:name/refresh', async (request) => {
    const { name } = request.params;
    requireScope(request, name);
    return summaryJson(await keeper.refresh(name, { force: true }));
  });
}
