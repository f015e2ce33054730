import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expectSuccess, type CliCallOptions, type Harness } from '../cli/harness.ts';
import type { CliProcess } from '../cli/run-cli.ts';

export interface RunningDaemon {
  url: string;
  process: CliProcess;
  /** SIGTERM, then waits for exit 0. */
  stop(): Promise<void>;
}

/** Starts `tokenkeeper run --listen 127.0.0.1:0 …` and waits until it serves. */
export async function startDaemon(
  h: Harness,
  args: string[] = [],
  call: CliCallOptions = {},
): Promise<RunningDaemon> {
  const daemon = h.start(['run', '--listen', '127.0.0.1:0', ...args], { timeoutMs: 60_000, ...call });
  const match = await daemon.waitFor(/"url":"(http[^"]+)","statusPage"[^\n]*"msg":"serving"/, {
    timeoutMs: 20_000,
  });
  return {
    url: match[1] as string,
    process: daemon,
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

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function api<T = Record<string, unknown>>(
  url: string,
  options: { key?: string; method?: string; headers?: Record<string, string> } = {},
): Promise<ApiAnswer<T>> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: { ...(options.key && { authorization: `Bearer ${options.key}` }), ...options.headers },
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (e.g. the status page or /metrics): callers read `text`.
  }
  return { status: response.status, headers: response.headers, body: body as T, text };
}

export interface ReceivedWebhook {
  headers: IncomingMessage['headers'];
  body: string;
  json: { type: string; connection: { name: string }; [key: string]: unknown };
}

/** A webhook receiver on 127.0.0.1: answers each request with the next status of `script` (then 204). */
export async function startReceiver(script: number[] = []): Promise<{
  url: string;
  received: ReceivedWebhook[];
  /** Every request, including those answered with an error status. */
  attempts: ReceivedWebhook[];
  waitFor(predicate: (hook: ReceivedWebhook) => boolean, timeoutMs?: number): Promise<ReceivedWebhook>;
  close(): Promise<void>;
}> {
  const received: ReceivedWebhook[] = [];
  const attempts: ReceivedWebhook[] = [];
  const waiters = new Set<() => void>();
  const queue = [...script];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const hook = { headers: request.headers, body, json: JSON.parse(body) as ReceivedWebhook['json'] };
      attempts.push(hook);
      const status = queue.shift() ?? 204;
      if (status < 300) received.push(hook);
      response.writeHead(status).end();
      waiters.forEach((wake) => wake());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/tokenkeeper`,
    received,
    attempts,
    waitFor(predicate, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find(predicate);
          if (!found) return;
          finish();
          resolve(found);
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `no matching webhook within ${timeoutMs} ms; got ${received.map((r) => r.json.type).join(', ')}`,
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
