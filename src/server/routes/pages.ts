import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { describeError, isTokenkeeperError } from '../../core/errors.ts';
import type { ConnectionSummary, Keeper } from '../../keeper.ts';
import { version } from '../../version.ts';
import type { RefreshHistory } from '../history.ts';
import { escapeHtml } from '../html.ts';
import type { DaemonMetrics } from '../metrics.ts';
import type { ReconnectFlows } from '../reconnect.ts';
import { faviconSvg, renderStatusPage } from '../status-page.ts';

export interface PageRouteOptions {
  keeper: Keeper;
  history: RefreshHistory;
  metrics: DaemonMetrics;
  reconnects: ReconnectFlows;
}

function securityHeaders(reply: FastifyReply, nonce?: string): FastifyReply {
  const script = nonce ? `'nonce-${nonce}'` : "'none'";
  const style = nonce ? `'nonce-${nonce}'` : "'unsafe-inline'";
  return reply
    .header(
      'content-security-policy',
      `default-src 'none'; script-src ${script}; style-src ${style}; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    )
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store');
}

function messagePage(reply: FastifyReply, status: number, title: string, text: string): FastifyReply {
  return securityHeaders(reply)
    .code(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><body style="font-family:system-ui;margin:3em"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="/">Back to the status page</a></p></body>`,
    );
}

/** The status page at / and its reconnect links. */
export async function pageRoutes(app: FastifyInstance, options: PageRouteOptions): Promise<void> {
  const { keeper, history } = options;

  app.get('/', async (_request, reply) => {
    let connections: ConnectionSummary[] = [];
    let storeError: string | undefined;
    try {
      connections = await keeper.status();
    } catch (error) {
      options.metrics.storeReadFailed();
      storeError = describeError(error);
    }
    const nonce = randomBytes(16).toString('base64');
    const html = renderStatusPage({ connections, history, now: keeper.now(), nonce, version, storeError });
    return securityHeaders(reply, nonce).type('text/html; charset=utf-8').send(html);
  });

  app.get('/favicon.svg', async (_request, reply) =>
    reply.type('image/svg+xml').header('cache-control', 'max-age=86400').send(faviconSvg),
  );

  app.get<{ Params: { name: string } }>('/connections/:name/reconnect', async (request, reply) => {
    // A link on this page sends same-origin (or, typed in, none); another site must not start a consent flow.
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return messagePage(reply, 403, 'Not allowed', 'Reconnect can only be started from the status page.');
    }
    try {
      const url = await options.reconnects.start(request.params.name);
      return securityHeaders(reply).redirect(url, 303);
    } catch (error) {
      const status = isTokenkeeperError(error, 'not_found') ? 404 : isTokenkeeperError(error) ? 409 : 500;
      return messagePage(reply, status, 'Cannot reconnect', describeError(error));
    }
  });
}
