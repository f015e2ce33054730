import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expectSuccess, type CliCallOptions, type Harness } from '../cli/harness.ts';
import { Waiters } from '../support/waiters.ts';

export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** A daemon under test: a `tokenkeeper run` process, or the same composition in this process (in-process.ts). */
export interface RunningDaemon {
  url: string;
  /** Requests to the daemon: over its port (a process), or through fastify's inject() (in process). */
  fetch: Fetch;
  /** The JSON API through `fetch`. */
  api<T = Record<string, unknown>>(url: string, options?: ApiRequest): Promise<ApiAnswer<T>>;
  /** Everything the daemon logged (and printed) so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in `output()`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Stops the daemon as SIGTERM does and waits until it has shut down (a process: exit 0). */
  stop(): Promise<void>;
}

/** The line `tokenkeeper run` prints on stdout once it serves (docs/serving.md). */
export const READY_LINE = /^ready(?: (\S+))?\n/m;

/** Starts `tokenkeeper run --listen 127.0.0.1:0 …` and waits for its ready line. */
export async function startDaemon(
  h: Harness,
  args: string[] = [],
  call: CliCallOptions = {},
): Promise<RunningDaemon> {
  const daemon = h.start(['run', '--listen', '127.0.0.1:0', ...args], { timeoutMs: 60_000, ...call });
  const ready = await daemon.waitFor(READY_LINE, { stream: 'stdout', timeoutMs: 20_000 });
  if (!ready[1]) throw new Error(`the daemon serves no HTTP:\n${daemon.stderr()}`);
  const output = () => daemon.stderr() + daemon.stdout();
  return {
    url: ready[1],
    fetch,
    api,
    output,
    waitForOutput: (pattern, timeoutMs = 10_000) => daemon.waitFor(pattern, { timeoutMs }),
    async stop() {
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGTERM');
      const result = await daemon.done;
      expectSuccess(result);
    },
  };
}

/** Creates an API key with the CLI and returns it. */
export async function createApiKey(h: Harness, scopes: string[], call: CliCallOptions = {}): Promise<string> {
  const result = expectSuccess(await h.cli(['api-key', 'create', '--scope', ...scopes], call));
  const key = result.stdout.trim();
  h.secrets.add(key);
  return key;
}

export interface ApiRequest {
  key?: string;
  method?: string;
  headers?: Record<string, string>;
  /** Aborts a request that does not answer in time (a stall fails the test instead of hanging it). */
  signal?: AbortSignal;
}

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** A JSON API client over `fetcher`. */
export function apiOver(fetcher: Fetch): RunningDaemon['api'] {
  return async <T = Record<string, unknown>>(
    url: string,
    options: ApiRequest = {},
  ): Promise<ApiAnswer<T>> => {
    const response = await fetcher(url, {
      method: options.method ?? 'GET',
      headers: { ...(options.key && { authorization: `Bearer ${options.key}` }), ...options.headers },
      ...(options.signal && { signal: options.signal }),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (e.g. the status page or /metrics): callers read `text`.
    }
    return { status: response.status, headers: response.headers, body: body as T, text };
  };
}

/** The JSON API of a daemon over its port. */
export const api = apiOver(fetch);

export interface ReceivedWebhook {
  headers: IncomingMessage['headers'];
  body: string;
  json: { type: string; connection: { name: string }; [key: string]: unknown };
}

/** The body parsed, or nothing in it for a body that is not JSON (ntfy's text/plain: read `body`). */
function jsonOf(body: string): ReceivedWebhook['json'] {
  try {
    return JSON.parse(body) as ReceivedWebhook['json'];
  } catch {
    return {} as ReceivedWebhook['json'];
  }
}

/**
 * A webhook receiver on 127.0.0.1 (on `port`, default a free one): answers each request with the next status of
 * `script` (then 204).
 */
export async function startReceiver(
  script: number[] = [],
  port = 0,
): Promise<{
  url: string;
  received: ReceivedWebhook[];
  /** Every request, including those answered with an error status. */
  attempts: ReceivedWebhook[];
  waitFor(predicate: (hook: ReceivedWebhook) => boolean, timeoutMs?: number): Promise<ReceivedWebhook>;
  close(): Promise<void>;
}> {
  const received: ReceivedWebhook[] = [];
  const attempts: ReceivedWebhook[] = [];
  const waiters = new Waiters();
  const queue = [...script];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const hook = { headers: request.headers, body, json: jsonOf(body) };
      attempts.push(hook);
      const status = queue.shift() ?? 204;
      if (status < 300) received.push(hook);
      response.writeHead(status).end();
      waiters.notify();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/hooks/tokenkeeper`,
    received,
    attempts,
    waitFor(predicate, timeoutMs = 20_000) {
      return waiters.until(
        () => received.find(predicate),
        timeoutMs,
        () =>
          `no matching webhook within ${timeoutMs} ms; got ${received.map((r) => r.json.type).join(', ')}`,
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
