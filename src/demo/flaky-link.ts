import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Response headers worth passing back to the client; hop-by-hop ones are Node's business. */
const FORWARDED_HEADERS = ['content-type', 'cache-control', 'retry-after', 'www-authenticate', 'location'];

export interface FlakyLink {
  /** http://127.0.0.1:PORT: the demo provider's URLs with this origin go through the link. */
  readonly url: string;
  /** Requests the link answered itself instead of the provider. */
  readonly refused: number;
  /** The next request reaches the provider, but its answer never comes back (the client times out). */
  loseNextAnswer(): void;
  /** The next request is answered 503 with Retry-After, without reaching the provider. */
  refuseNext(retryAfterSeconds: number): void;
  close(): Promise<void>;
}

/**
 * The network between the keeper and the demo provider for `tokenkeeper demo --chaos`: it passes requests through
 * on loopback, except one whose answer it loses and one it turns away, so the demo can show recovery while the
 * provider itself stays an ordinary, honest OAuth server.
 */
export async function startFlakyLink(target: string): Promise<FlakyLink> {
  let next: { kind: 'lose' } | { kind: 'refuse'; retryAfterSeconds: number } | undefined;
  let refused = 0;
  const held = new Set<ServerResponse>();

  async function relay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const trouble = next;
    next = undefined;
    if (trouble?.kind === 'refuse') {
      refused++;
      res.writeHead(503, {
        'content-type': 'application/json',
        'retry-after': String(trouble.retryAfterSeconds),
      });
      res.end(
        JSON.stringify({ error: 'temporarily_unavailable', error_description: 'demo --chaos: HTTP 503' }),
      );
      return;
    }
    const answer = await fetch(new URL(req.url ?? '/', target), {
      method: req.method,
      headers: Object.fromEntries(
        ['content-type', 'authorization', 'accept']
          .map((name) => [name, req.headers[name]])
          .filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      ),
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      redirect: 'manual',
    });
    const payload = Buffer.from(await answer.arrayBuffer());
    if (trouble?.kind === 'lose') {
      // The provider has answered (and rotated); the client waits for an answer that never comes.
      held.add(res);
      res.once('close', () => held.delete(res));
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = answer.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    res.writeHead(answer.status, headers);
    res.end(payload);
  }

  const server = createServer((req, res) => {
    relay(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get refused() {
      return refused;
    },
    loseNextAnswer: () => void (next = { kind: 'lose' }),
    refuseNext: (retryAfterSeconds) => void (next = { kind: 'refuse', retryAfterSeconds }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
