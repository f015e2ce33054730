import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenkeeperError } from '../core/errors.ts';

export interface CallbackServer {
  /** The port actually bound (useful when 0 was asked). */
  port: number;
  /** Resolves with the full redirect URL the browser was sent to. */
  waitForRedirect(timeoutMs: number, signal?: AbortSignal): Promise<URL>;
  close(): Promise<void>;
}

const page = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font-family:system-ui;margin:3em"><h1>${title}</h1><p>${text}</p></body>`;

/**
 * A one-shot HTTP server on 127.0.0.1 that receives the provider's redirect at `path`, answers the browser with a
 * short page, and hands the URL to the waiting connect flow.
 */
export async function startCallbackServer(options: { port: number; path: string }): Promise<CallbackServer> {
  let deliver: (url: URL) => void = () => undefined;
  const received = new Promise<URL>((resolve) => (deliver = resolve));
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://127.0.0.1`);
    if (request.method !== 'GET' || url.pathname !== options.path) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const failed = url.searchParams.has('error');
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(
        failed
          ? page('Authorization failed', 'Return to the terminal for details.')
          : page('Connected', 'tokenkeeper received the authorization. You can close this tab.'),
      );
    deliver(url);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new TokenkeeperError(
          'usage',
          error.code === 'EADDRINUSE'
            ? `port ${options.port} is in use: pass --port with a free port (and register the matching redirect URI)`
            : `cannot start the callback server: ${error.message}`,
        ),
      ),
    );
    server.listen(options.port, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    waitForRedirect(timeoutMs, signal) {
      return new Promise<URL>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new TokenkeeperError(
                'timeout',
                `no authorization arrived within ${Math.round(timeoutMs / 1000)} s`,
              ),
            ),
          timeoutMs,
        );
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
        received.then((url) => {
          clearTimeout(timer);
          resolve(url);
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
