import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const LOOPBACK = '127.0.0.1';
const FORM_BODY_LIMIT = 64 * 1024;

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

export interface HttpServerHandle {
  readonly url: string;
  /** Resolves after `ms`, or never if the server closes first. */
  wait(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** What a route answers: an object body is sent as JSON, a string as plain text. */
export interface Reply {
  status: number;
  body?: string | object;
  headers?: Record<string, string>;
}

export async function startHttpServer(
  handler: RequestHandler,
  options: { host?: string; port?: number } = {},
): Promise<HttpServerHandle> {
  const host = options.host ?? LOOPBACK;
  if (host !== LOOPBACK) throw new Error(`Simulated providers listen on ${LOOPBACK} only, not ${host}`);
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closing: Promise<void> | undefined;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    handler(req, res, url).catch((error: unknown) => failRequest(res, error));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    wait(ms) {
      return new Promise<void>((resolve) => {
        if (closing) return;
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, ms);
        timers.add(timer);
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

function failRequest(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  send(res, { status: 500, body: { error: 'simulator_error', error_description: message } });
}

export function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed || res.writableEnded) return;
  let payload = '';
  let contentType: string | undefined;
  if (typeof reply.body === 'string') {
    payload = reply.body;
    contentType = 'text/plain; charset=utf-8';
  } else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    contentType = 'application/json; charset=utf-8';
  }
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (contentType) headers['content-type'] = contentType;
  for (const [name, value] of Object.entries(reply.headers ?? {})) headers[name.toLowerCase()] = value;
  headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(payload);
}

export type FormResult =
  { ok: true; params: URLSearchParams } | { ok: false; status: 400 | 413; description: string };

/**
 * Reads an application/x-www-form-urlencoded body. With `allowQuery`, query-string parameters count too
 * (body values win), as Fitbit accepted from clients that sent everything in the URL.
 */
export async function readForm(
  req: IncomingMessage,
  url: URL,
  options: { allowQuery: boolean },
): Promise<FormResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Keep draining past the limit: abandoning the stream would destroy the socket before the 413 is sent.
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= FORM_BODY_LIMIT) chunks.push(chunk as Buffer);
  }
  if (size > FORM_BODY_LIMIT) return { ok: false, status: 413, description: 'Request body too large' };
  const body = Buffer.concat(chunks).toString('utf8');
  const params = new URLSearchParams(options.allowQuery ? url.search : '');
  if (body.length === 0) return { ok: true, params };
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/x-www-form-urlencoded') {
    return { ok: false, status: 400, description: 'Content-Type must be application/x-www-form-urlencoded' };
  }
  for (const [name, value] of new URLSearchParams(body)) params.set(name, value);
  return { ok: true, params };
}

export interface BasicCredentials {
  id: string;
  secret: string;
}

/** undefined when there is no Basic header; 'malformed' when there is one that cannot be decoded. */
export function parseBasicAuth(header: string | undefined): BasicCredentials | 'malformed' | undefined {
  if (!header || !/^basic\b/i.test(header)) return undefined;
  const match = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!match?.[1]) return 'malformed';
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

// RFC 6749 §2.3.1 wants id and secret form-encoded before base64; many clients skip that, so decode only if needed.
function formDecode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function bearerToken(header: string | undefined): string | undefined {
  return /^bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

/**
 * Who signs in on a simulated consent page: the `login_hint` of the authorization request (OpenID Connect's
 * parameter for the account to use), else the simulator's default user. Lets a test consent as another account.
 */
export function consentingUser(query: URLSearchParams, defaultUserId: string): string {
  return query.get('login_hint') || defaultUserId;
}
