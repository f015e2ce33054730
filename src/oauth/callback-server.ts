import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenkeeperError } from '../core/errors.ts';
import { escapeHtml } from '../core/html.ts';

/** How the connect flow ended, for the browser tab that delivered the redirect. */
export type CallbackOutcome = { ok: true; text: string } | { ok: false; error: string };

export interface CallbackServer {
  /** The port actually bound (useful when 0 was asked). */
  port: number;
  /**
   * Resolves with the full redirect URL the browser was sent to. The browser's request stays open until
   * `answer` is called, so the page it shows is the flow's real outcome.
   */
  waitForRedirect(timeoutMs: number, signal?: AbortSignal): Promise<URL>;
  /** Shows the outcome to the browser that delivered the redirect (only the first call counts). */
  answer(outcome: CallbackOutcome): void;
  /** Answers a browser still waiting (as not completed), then stops listening. */
  close(): Promise<void>;
}

/**
 * How long the browser's request is held for the outcome at most: the code exchange and the save are bounded by
 * their own timeouts, this only guarantees that the tab never spins forever.
 */
const DEFAULT_ANSWER_WITHIN_MS = 60_000;

interface Page {
  status: number;
  title: string;
  paragraphs: string[];
}

const render = ({ title, paragraphs }: Page) =>
  `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><body style="font-family:system-ui;margin:3em"><h1>${escapeHtml(title)}</h1>${paragraphs.map((text) => `<p>${escapeHtml(text)}</p>`).join('')}</body>`;

function outcomePage(outcome: CallbackOutcome): Page {
  return outcome.ok
    ? { status: 200, title: 'Connected', paragraphs: [outcome.text, 'You can close this tab.'] }
    : {
        status: 400,
        title: 'Not connected',
        // The terminal's own line (describeError), so both say the same; it never holds a token or secret.
        paragraphs: [`tokenkeeper: error: ${outcome.error}`, 'The terminal shows the same error.'],
      };
}

const stillWorking: Page = {
  status: 202,
  title: 'Still finishing',
  paragraphs: [
    'tokenkeeper received the authorization and is still saving it: the terminal shows the result.',
  ],
};

const notCompleted: Page = {
  status: 400,
  title: 'Not connected',
  paragraphs: ['The connection was not completed: the terminal shows why.'],
};

const alreadyReceived: Page = {
  status: 409,
  title: 'Already received',
  paragraphs: ['tokenkeeper already received an authorization on this address: see the terminal.'],
};

/**
 * A one-shot HTTP server on 127.0.0.1 that receives the provider's redirect at `path`, hands the URL to the
 * waiting connect flow, and answers the browser with the flow's outcome once it is known.
 */
export async function startCallbackServer(options: {
  port: number;
  path: string;
  answerWithinMs?: number;
}): Promise<CallbackServer> {
  let deliver: (url: URL) => void = () => undefined;
  const received = new Promise<URL>((resolve) => (deliver = resolve));
  let waiting: ServerResponse | undefined;
  let answered: Promise<void> | undefined;
  let holdTimer: NodeJS.Timeout | undefined;

  const reply = (response: ServerResponse, page: Page) =>
    new Promise<void>((resolve) => {
      if (response.writableEnded || response.destroyed) return resolve();
      response
        .writeHead(page.status, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'close',
        })
        .end(render(page), () => resolve());
      response.once('close', () => resolve());
    });
  const answer = (page: Page) => {
    if (!waiting || answered) return;
    clearTimeout(holdTimer);
    answered = reply(waiting, page);
  };

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://127.0.0.1`);
    if (request.method !== 'GET' || url.pathname !== options.path) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (waiting) {
      void reply(response, alreadyReceived);
      return;
    }
    waiting = response;
    holdTimer = setTimeout(() => answer(stillWorking), options.answerWithinMs ?? DEFAULT_ANSWER_WITHIN_MS);
    holdTimer.unref();
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
    answer: (outcome) => answer(outcomePage(outcome)),
    async close() {
      answer(notCompleted);
      await answered;
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
