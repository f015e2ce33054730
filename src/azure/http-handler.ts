import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { describeError, isTokenkeeperError, type ErrorCode } from '../core/errors.ts';
import type { ConnectionSummary, Keeper } from '../keeper/keeper.ts';
import type { FunctionAlerts } from './alerts.ts';
import { connectionForKey, parseCallers, CALLERS_SETTING } from './callers.ts';
import { inInvocation } from './invocation-log.ts';
import { HTTP_WEBHOOK_DRAIN_MS } from './limits.ts';

export const CALLER_KEY_HEADER = 'x-tokenkeeper-caller-key';

const statusByCode: Partial<Record<ErrorCode, number>> = {
  not_found: 404,
  needs_reauth: 409,
  provider_retired: 410,
  config: 500,
  invalid_client: 500,
  provider_unavailable: 503,
  bad_provider_response: 502,
  timeout: 504,
  store: 503,
  lock_timeout: 503,
  version_conflict: 503,
};

/**
 * The HTTP function (function-key protected by the host):
 * - GET …/tokenkeeper/status → every connection's status, no secrets;
 * - GET …/tokenkeeper/token with `x-tokenkeeper-caller-key` → a valid access token of the one connection that
 *   key belongs to (TOKENKEEPER_HTTP_CALLERS), refreshed first if due. Never the refresh token.
 * A refresh here alerts as the timer's do (the webhooks listen to the shared keeper); they are settled before the
 * response.
 */
export function createHttpHandler(
  getKeeper: () => Promise<Keeper>,
  env: NodeJS.ProcessEnv,
  options: { alerts?: FunctionAlerts } = {},
) {
  return async function tokenkeeperHttp(
    request: HttpRequest,
    context: InvocationContext,
  ): Promise<HttpResponseInit> {
    return inInvocation(context, async () => {
      try {
        return await answer(request, context, getKeeper, env);
      } finally {
        await options.alerts?.settle(context, HTTP_WEBHOOK_DRAIN_MS);
      }
    });
  };
}

async function answer(
  request: HttpRequest,
  context: InvocationContext,
  getKeeper: () => Promise<Keeper>,
  env: NodeJS.ProcessEnv,
): Promise<HttpResponseInit> {
  const action = request.params.action ?? new URL(request.url).pathname.split('/').pop();
  try {
    if (action === 'status') {
      const keeper = await getKeeper();
      return json(200, { connections: (await keeper.status()).map(publicSummary) });
    }
    if (action === 'token') return await token(request, getKeeper, env);
    return json(404, {
      error: 'not_found',
      message: 'use GET …/tokenkeeper/status or …/tokenkeeper/token',
    });
  } catch (error) {
    const code = isTokenkeeperError(error) ? error.code : undefined;
    const status = (code && statusByCode[code]) ?? 500;
    context.error(`tokenkeeper ${action ?? '?'} failed: ${describeError(error)}`);
    return json(status, { error: code ?? 'internal', message: describeError(error) });
  }
}

async function token(
  request: HttpRequest,
  getKeeper: () => Promise<Keeper>,
  env: NodeJS.ProcessEnv,
): Promise<HttpResponseInit> {
  const callers = parseCallers(env[CALLERS_SETTING]);
  if (callers.length === 0) {
    return json(403, {
      error: 'no_callers',
      message: `no caller keys are configured: set ${CALLERS_SETTING} to CONNECTION=SHA256(KEY) entries`,
    });
  }
  const name = connectionForKey(callers, request.headers.get(CALLER_KEY_HEADER));
  if (!name) {
    return json(401, {
      error: 'unauthorized',
      message: `send a caller key in the ${CALLER_KEY_HEADER} header`,
    });
  }
  const keeper = await getKeeper();
  const accessToken = await keeper.accessToken(name);
  const summary = await keeper.get(name);
  return json(200, {
    connection: name,
    accessToken,
    tokenType: 'Bearer',
    expiresAt: summary?.expiresAt === undefined ? undefined : new Date(summary.expiresAt).toISOString(),
  });
}

function publicSummary(summary: ConnectionSummary): object {
  const time = (value: number | undefined) =>
    value === undefined ? undefined : new Date(value).toISOString();
  return {
    name: summary.name,
    provider: summary.provider,
    account: summary.account,
    status: summary.status,
    scope: summary.scope,
    expiresAt: time(summary.expiresAt),
    lastRefreshAt: time(summary.lastRefreshAt),
    nextRefreshAt: time(summary.nextRefreshAt),
    lastError: summary.lastError,
    failureCount: summary.failureCount,
    refreshInProgress: summary.refreshInProgress,
  };
}

function json(status: number, body: object): HttpResponseInit {
  return {
    status,
    jsonBody: body,
    headers: { 'cache-control': 'no-store', 'content-type': 'application/json' },
  };
}
