import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The operator's session cookie: HttpOnly, SameSite=Strict, Secure over TLS. */
export const SESSION_COOKIE = 'tokenkeeper_session';
/** How long a login session lasts, however active. */
export const SESSION_LIFETIME_MS = 12 * 60 * 60 * 1000;
/** How long a one-time login ticket from `tokenkeeper login` stays redeemable. */
export const LOGIN_TICKET_TTL_MS = 10 * 60 * 1000;
/** Sessions kept at most; the oldest goes first (a flood of logins cannot grow memory without bound). */
const MAX_SESSIONS = 1_000;

export interface OperatorSession {
  /** Sent with every state-changing form; compared in constant time. */
  csrfToken: string;
  expiresAt: number;
}

/** Who may see the read-only pages (/, /metrics): anyone who reaches the port, or logged-in operators only. */
export type PageAccess = 'open' | 'operator';

/** Read-only pages stay open only on a loopback listen, and only while the config does not ask for a login. */
export function pageAccessFor(loopback: boolean, loginRequired: boolean | undefined): PageAccess {
  return loopback && !loginRequired ? 'open' : 'operator';
}

/**
 * Operator sessions of one daemon, in memory: a restart logs everyone out. The cookie carries a random id;
 * only its SHA-256 is kept, so a memory dump does not hand out live sessions.
 */
export class OperatorSessions {
  private readonly sessions = new Map<string, OperatorSession>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Opens a session; returns the cookie value (shown to nobody but the browser). */
  open(): { id: string; session: OperatorSession } {
    this.prune();
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const session = {
      csrfToken: randomBytes(32).toString('base64url'),
      expiresAt: this.now() + SESSION_LIFETIME_MS,
    };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session a request's cookie names, if any. */
  of(request: FastifyRequest): OperatorSession | undefined {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (!id) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(key);
      return undefined;
    }
    return session;
  }

  close(request: FastifyRequest): void {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (id) this.sessions.delete(digest(id));
  }

  private prune(): void {
    const now = this.now();
    for (const [key, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(key);
  }
}

export function setSessionCookie(reply: FastifyReply, id: string, secure: boolean): FastifyReply {
  const attributes = [
    `${SESSION_COOKIE}=${id}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.floor(SESSION_LIFETIME_MS / 1000)}`,
    ...(secure ? ['Secure'] : []),
  ];
  return reply.header('set-cookie', attributes.join('; '));
}

export function clearSessionCookie(reply: FastifyReply): FastifyReply {
  return reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
}

/**
 * Why a state-changing request must be refused, or undefined when it may go ahead: it needs a live session, the
 * session's CSRF token in the form, and — when the browser says where it came from — this very origin. A request
 * without `Sec-Fetch-Site` still needs the session and the token: the header's absence proves nothing.
 */
export function refuseAction(
  session: OperatorSession | undefined,
  request: FastifyRequest,
): { status: 401 | 403; reason: string } | undefined {
  if (!session) {
    return {
      status: 401,
      reason: 'log in first: run `tokenkeeper login` on the daemon’s machine and open the link it prints',
    };
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    return { status: 403, reason: 'this action can only be started from the status page itself' };
  }
  const body = request.body as Record<string, unknown> | undefined;
  const presented = typeof body?.csrf === 'string' ? body.csrf : '';
  if (!sameSecret(presented, session.csrfToken)) {
    return {
      status: 403,
      reason: 'the form has expired or did not come from the status page: reload the page',
    };
  }
  return undefined;
}

/** Constant-time equality of two secrets (compared as SHA-256 digests, so lengths leak nothing). */
export function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(
    createHash('sha256').update(presented).digest(),
    createHash('sha256').update(expected).digest(),
  );
}

/** The bearer token of an `Authorization` header, if it has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=') || undefined;
  }
  return undefined;
}
