import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProviderSettings } from '../config/schema.ts';
import { DEMO_ACCOUNT, DemoGrants, sameText, type GrantResult } from './demo-grants.ts';

export { DEMO_ACCOUNT } from './demo-grants.ts';

const HOST = '127.0.0.1';
const FORM_LIMIT_BYTES = 64 * 1024;

export interface DemoProviderStats {
  codeExchanges: number;
  refreshRequests: number;
  refreshSuccesses: number;
  graceReplays: number;
  invalidGrant: number;
  apiRequests: number;
}

export interface DemoProvider {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly revokeUrl: string;
  /** An API call that needs a valid access token. */
  readonly profileUrl: string;
  readonly clientId: string;
  /** Absent for the public client. */
  readonly clientSecret?: string;
  readonly stats: Readonly<DemoProviderStats>;
  close(): Promise<void>;
}

type Reply = { status: number; body?: object; headers?: Record<string, string> };

/**
 * The small OAuth 2.0 provider `tokenkeeper demo` runs on loopback: a consent page that approves account DEMO42
 * at once, a token endpoint (authorization code with PKCE, refresh token with single-use rotation), revocation,
 * and one API call. RFC 6749 shaped, so the demo connects to it as a provider of its own (`extends: oauth2`).
 */
export async function startDemoProvider(options: {
  lifetimeSeconds: number;
  /** 0 picks a free port. */
  port?: number;
  /** 'client': a public client (PKCE, no secret), so nothing secret has to be shown to the user. */
  clientType?: 'server' | 'client';
  /** Refresh tokens die this long after issue, and token responses say so (`refresh_token_expires_in`). */
  refreshTokenExpiresInSeconds?: number;
}): Promise<DemoProvider> {
  const clientId = 'demo-client';
  const clientSecret = options.clientType === 'client' ? undefined : randomBytes(16).toString('hex');
  const grants = new DemoGrants(options.lifetimeSeconds, options.refreshTokenExpiresInSeconds);
  const stats: DemoProviderStats = {
    codeExchanges: 0,
    refreshRequests: 0,
    refreshSuccesses: 0,
    graceReplays: 0,
    invalidGrant: 0,
    apiRequests: 0,
  };

  async function route(req: IncomingMessage, url: URL): Promise<Reply> {
    const path = `${req.method} ${url.pathname}`;
    if (path === 'GET /oauth2/authorize') return authorize(url.searchParams);
    if (path === 'POST /oauth2/token') return token(req);
    if (path === 'POST /oauth2/revoke') return revoke(req);
    if (path === 'GET /api/profile') return profile(req);
    return oauthError(404, 'not_found', `no route ${path}`);
  }

  function authorize(query: URLSearchParams): Reply {
    if (query.get('client_id') !== clientId) return oauthError(400, 'invalid_client', 'unknown client_id');
    if (query.get('response_type') !== 'code') {
      return oauthError(400, 'unsupported_response_type', 'response_type must be code');
    }
    const redirectUri = query.get('redirect_uri');
    if (!redirectUri || !isLoopbackUrl(redirectUri)) {
      return oauthError(400, 'invalid_request', 'redirect_uri must be an http URL on loopback');
    }
    const codeChallenge = query.get('code_challenge');
    if (!codeChallenge || query.get('code_challenge_method') !== 'S256') {
      return oauthError(400, 'invalid_request', 'PKCE is required: code_challenge with method S256');
    }
    const scope = (query.get('scope') ?? '').split(' ').filter(Boolean).join(' ');
    const location = new URL(redirectUri);
    location.searchParams.set('code', grants.issueCode({ scope, redirectUri, codeChallenge }));
    const state = query.get('state');
    if (state !== null) location.searchParams.set('state', state);
    return { status: 302, headers: { location: location.href } };
  }

  async function token(req: IncomingMessage): Promise<Reply> {
    const form = await readForm(req);
    if (!form) return oauthError(400, 'invalid_request', 'expected a form body of at most 64 KB');
    const unauthenticated = clientAuthError(req, form);
    if (unauthenticated) return unauthenticated;
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') {
      const code = form.get('code');
      if (!code) return oauthError(400, 'invalid_request', 'code is missing');
      const result = grants.exchangeCode(code, form.get('redirect_uri'), form.get('code_verifier'));
      if (result.ok) stats.codeExchanges++;
      return tokenReply(result);
    }
    if (grantType === 'refresh_token') {
      stats.refreshRequests++;
      const refreshToken = form.get('refresh_token');
      if (!refreshToken) return oauthError(400, 'invalid_request', 'refresh_token is missing');
      const result = grants.refresh(refreshToken);
      if (result.ok && result.replay) stats.graceReplays++;
      else if (result.ok) stats.refreshSuccesses++;
      return tokenReply(result);
    }
    return oauthError(400, 'unsupported_grant_type', 'use authorization_code or refresh_token');
  }

  function tokenReply(result: GrantResult): Reply {
    if (result.ok) return { status: 200, body: result.response };
    stats.invalidGrant++;
    return oauthError(400, result.error, result.description);
  }

  async function revoke(req: IncomingMessage): Promise<Reply> {
    const form = await readForm(req);
    if (!form) return oauthError(400, 'invalid_request', 'expected a form body of at most 64 KB');
    const unauthenticated = clientAuthError(req, form);
    if (unauthenticated) return unauthenticated;
    const value = form.get('token');
    if (!value) return oauthError(400, 'invalid_request', 'token is missing');
    grants.revoke(value);
    return { status: 200 };
  }

  function profile(req: IncomingMessage): Reply {
    stats.apiRequests++;
    const accessToken = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!accessToken || !grants.accessValid(accessToken)) {
      return {
        ...oauthError(401, 'invalid_token', 'access token missing, expired or revoked'),
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      };
    }
    return { status: 200, body: { user: { id: DEMO_ACCOUNT, displayName: 'Demo User' } } };
  }

  /** The confidential client authenticates with HTTP Basic or client_secret in the body; the public one sends only its id. */
  function clientAuthError(req: IncomingMessage, form: URLSearchParams): Reply | undefined {
    const basic = parseBasic(req.headers.authorization);
    const id = basic?.id ?? form.get('client_id');
    const secret = basic?.secret ?? form.get('client_secret') ?? undefined;
    const authenticated =
      id === clientId &&
      (clientSecret === undefined || (secret !== undefined && sameText(secret, clientSecret)));
    return authenticated ? undefined : oauthError(401, 'invalid_client', 'client authentication failed');
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${HOST}`);
    route(req, url).then(
      (reply) => send(res, reply),
      () => send(res, oauthError(500, 'server_error', 'the demo provider failed')),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => resolve());
  });
  const url = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    authorizeUrl: `${url}/oauth2/authorize`,
    tokenUrl: `${url}/oauth2/token`,
    revokeUrl: `${url}/oauth2/revoke`,
    profileUrl: `${url}/api/profile`,
    clientId,
    ...(clientSecret === undefined ? {} : { clientSecret }),
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The `providers.demo` entry of a tokenkeeper config for a running demo provider: a provider of its own, as any
 * user defines one, so the demo is never among the built-in providers.
 */
export function demoProviderSettings(provider: DemoProvider, tokenUrl = provider.tokenUrl): ProviderSettings {
  return {
    extends: 'oauth2',
    displayName: 'Demo (simulated Fitbit on loopback)',
    authorizationUrl: provider.authorizeUrl,
    tokenUrl,
    revokeUrl: provider.revokeUrl,
    clientId: provider.clientId,
    scopes: ['activity', 'profile'],
  };
}

function oauthError(status: number, error: string, description: string): Reply {
  return { status, body: { error, error_description: description } };
}

function send(res: ServerResponse, reply: Reply): void {
  const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'cache-control': 'no-store',
    ...(reply.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...reply.headers,
  });
  res.end(payload);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  // Drained to the end even past the limit: abandoning the stream would reset the socket before the answer.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= FORM_LIMIT_BYTES) chunks.push(chunk);
  }
  if (size > FORM_LIMIT_BYTES || type !== 'application/x-www-form-urlencoded') return undefined;
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const encoded = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header ?? '')?.[1];
  if (!encoded) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
  const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
  try {
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

function isLoopbackUrl(value: string): boolean {
  const url = URL.parse(value);
  return url?.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
}
