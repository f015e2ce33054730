import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyStore } from '../../api-keys/api-key-store.ts';
import { describeError, isTokenkeeperError } from '../../core/errors.ts';
import { reconnectPath } from '../../core/links.ts';
import type { ConnectionSummary, Keeper } from '../../keeper/keeper.ts';
import { version } from '../../version.ts';
import type { RefreshHistory } from '../history.ts';
import { escapeHtml } from '../html.ts';
import type { DaemonMetrics } from '../metrics.ts';
import {
  clearSessionCookie,
  refuseAction,
  setSessionCookie,
  type OperatorSession,
  type OperatorSessions,
  type PageAccess,
} from '../operator-auth.ts';
import type { ReconnectFlows } from '../reconnect.ts';
import { actionForm, faviconSvg, renderStatusPage } from '../status-page.ts';

export interface PageRouteOptions {
  keeper: Keeper;
  history: RefreshHistory;
  metrics: DaemonMetrics;
  reconnects: ReconnectFlows;
  apiKeys: ApiKeyStore;
  sessions: OperatorSessions;
  /** Who may read the status page; actions always need an operator session. */
  access: PageAccess;
  /** Served over TLS: the session cookie gets `Secure`. */
  secure: boolean;
}

const FORM_BODY_LIMIT = 4 * 1024;

function securityHeaders(reply: FastifyReply, nonce?: string) {
  const script = nonce ? `'nonce-${nonce}'` : "'none'";
  const style = nonce ? `'nonce-${nonce}'` : "'unsafe-inline'";
  return reply
    .header(
      'content-security-policy',
      `default-src 'none'; script-src ${script}; style-src ${style}; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
    )
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store');
}

/** A small page of its own (messages, the consent hand-off): a title and body HTML, under the strict headers. */
function smallPage(
  reply: FastifyReply,
  status: number,
  title: string,
  bodyHtml: string,
  head = '',
): FastifyReply {
  return securityHeaders(reply)
    .code(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><meta charset="utf-8">${head}<title>${escapeHtml(title)}</title><body style="font-family:system-ui;margin:3em"><h1>${escapeHtml(title)}</h1>${bodyHtml}</body>`,
    );
}

function messagePage(reply: FastifyReply, status: number, title: string, text: string): FastifyReply {
  return smallPage(
    reply,
    status,
    title,
    `<p>${escapeHtml(text)}</p><p><a href="/">Back to the status page</a></p>`,
  );
}

/**
 * Sends the browser on to the consent page with a document rather than a redirect: browsers check a form's
 * redirects against form-action, and a provider's sign-in may pass through origins nobody can list in advance.
 */
function consentHandoff(reply: FastifyReply, name: string, url: string): FastifyReply {
  const href = escapeHtml(url);
  return smallPage(
    reply,
    200,
    `Reconnect ${name}`,
    `<p><a id="consent" href="${href}">Continue to the provider's consent page</a></p>`,
    `<meta http-equiv="refresh" content="0; url=${href}">`,
  );
}

/** The marker of a reconnect link the site opened itself (see reopenFromHere). */
const SELF = 'self';

/**
 * A reconnect link opened from another site (Slack, Discord, webmail) arrives without the SameSite=Strict session
 * cookie; the same link opened again by a page of this site carries it. So the first visit without a session
 * answers a page that opens the link again, marked, and only the marked visit without a session gets the login page.
 * Both say 401: neither shows anything to a visitor without a session.
 */
function reopenFromHere(reply: FastifyReply, name: string): FastifyReply {
  const href = escapeHtml(`${reconnectPath(name)}?via=${SELF}`);
  return smallPage(
    reply,
    401,
    `Reconnect ${name}`,
    `<p><a href="${href}">Continue</a></p>`,
    `<meta http-equiv="refresh" content="0; url=${href}">`,
  );
}

const loginHelp =
  'Run `tokenkeeper login` on the machine the daemon runs on (with the same data dir) and open the one-time link it prints.';

function loginRequired(reply: FastifyReply): FastifyReply {
  return messagePage(reply, 401, 'Log in to see the status page', loginHelp);
}

/**
 * Where the reconnect link of a message lands: for a logged-in operator, the connection and a Reconnect button
 * (the status page's own form: a POST with the session's CSRF token, so opening a link never starts a consent).
 */
function reconnectConfirmation(
  reply: FastifyReply,
  connection: ConnectionSummary,
  session: OperatorSession,
  underWay: boolean,
): FastifyReply {
  const status = `${connection.name} (${connection.provider}${connection.account ? `, account ${connection.account}` : ''}) is ${connection.status.replaceAll('_', ' ')}.`;
  const body = [
    `<p>${escapeHtml(status)}</p>`,
    connection.lastError ? `<p>Last error: ${escapeHtml(connection.lastError)}</p>` : '',
    underWay ? '<p>A reconnect of this connection is under way; starting again cancels it.</p>' : '',
    '<p>Reconnect sends you to the provider to sign in and consent again; the new tokens replace the old ones.</p>',
    actionForm(reconnectPath(connection.name), session.csrfToken, 'Reconnect', 'reconnect'),
    '<p><a href="/">Back to the status page</a></p>',
  ].join('');
  return smallPage(reply, 200, `Reconnect ${connection.name}`, body);
}

/** The status page at /, operator login, and the page's actions (reconnect, cancel, log out). */
export async function pageRoutes(app: FastifyInstance, options: PageRouteOptions): Promise<void> {
  const { keeper, history, sessions } = options;

  // Forms post application/x-www-form-urlencoded; only this plugin's routes accept it.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  /** Runs a page action for a logged-in operator whose form carries the session's CSRF token. */
  const action =
    (
      work: (request: FastifyRequest, reply: FastifyReply, session: OperatorSession) => Promise<FastifyReply>,
    ) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      const session = sessions.of(request);
      const refused = refuseAction(session, request);
      if (refused) return messagePage(reply, refused.status, 'Not allowed', refused.reason);
      return work(request, reply, session as OperatorSession);
    };

  app.get('/', async (request, reply) => {
    const session = sessions.of(request);
    if (options.access === 'operator' && !session) return loginRequired(reply);
    let connections: ConnectionSummary[] = [];
    let storeError: string | undefined;
    try {
      connections = await keeper.status();
    } catch (error) {
      options.metrics.storeReadFailed();
      storeError = describeError(error);
    }
    const nonce = randomBytes(16).toString('base64');
    const html = renderStatusPage({
      connections,
      history,
      now: keeper.now(),
      nonce,
      version,
      storeError,
      operator: session && { csrfToken: session.csrfToken, reconnecting: options.reconnects.underWay() },
    });
    return securityHeaders(reply, nonce).type('text/html; charset=utf-8').send(html);
  });

  // Pages without a <link rel="icon"> (the hand-off, messages) make browsers ask for /favicon.ico.
  for (const path of ['/favicon.svg', '/favicon.ico']) {
    app.get(path, async (_request, reply) =>
      reply.type('image/svg+xml').header('cache-control', 'max-age=86400').send(faviconSvg),
    );
  }

  app.get<{ Querystring: { ticket?: string } }>('/login', async (request, reply) => {
    const ticket = request.query.ticket;
    if (!ticket) return messagePage(reply, 200, 'Log in', loginHelp);
    if (!options.apiKeys.redeemLoginTicket(ticket)) {
      return messagePage(
        reply,
        401,
        'Login link not valid',
        'This login link was already used, has expired or was mistyped. Run `tokenkeeper login` for a new one.',
      );
    }
    const { id } = sessions.open();
    setSessionCookie(reply, id, options.secure);
    return securityHeaders(reply).redirect('/', 303);
  });

  app.post(
    '/logout',
    action(async (request, reply) => {
      sessions.close(request);
      clearSessionCookie(reply);
      return securityHeaders(reply).redirect('/', 303);
    }),
  );

  // Anyone but an operator gets the login page, whether or not the connection exists.
  app.get<{ Params: { name: string }; Querystring: { via?: string } }>(
    '/connections/:name/reconnect',
    async (request, reply) => {
      const session = sessions.of(request);
      if (!session) {
        return request.query.via === SELF ? loginRequired(reply) : reopenFromHere(reply, request.params.name);
      }
      return reconnectPage(reply, request.params.name, session);
    },
  );

  async function reconnectPage(
    reply: FastifyReply,
    name: string,
    session: OperatorSession,
  ): Promise<FastifyReply> {
    let connection: ConnectionSummary | undefined;
    try {
      connection = await keeper.get(name);
    } catch (error) {
      options.metrics.storeReadFailed();
      return messagePage(reply, 503, 'Cannot read the connections', describeError(error));
    }
    if (!connection) return messagePage(reply, 404, 'Cannot reconnect', `no connection named "${name}"`);
    return reconnectConfirmation(reply, connection, session, options.reconnects.underWay() === name);
  }

  app.post<{ Params: { name: string } }>(
    '/connections/:name/reconnect',
    action(async (request, reply) => {
      const { name } = request.params as { name: string };
      try {
        const url = await options.reconnects.start(name);
        return consentHandoff(reply, name, url);
      } catch (error) {
        const status = isTokenkeeperError(error, 'not_found') ? 404 : isTokenkeeperError(error) ? 409 : 500;
        return messagePage(reply, status, 'Cannot reconnect', describeError(error));
      }
    }),
  );

  app.post<{ Params: { name: string } }>(
    '/connections/:name/reconnect/cancel',
    action(async (request, reply) => {
      const { name } = request.params as { name: string };
      await options.reconnects.cancel(name);
      return securityHeaders(reply).redirect('/', 303);
    }),
  );
}
