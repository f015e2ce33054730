import type { FastifyInstance } from 'fastify';

const trackers = new WeakMap<FastifyInstance, RequestTracker>();

/** Counts requests in flight (until their response is sent or the client goes away). */
class RequestTracker {
  active = 0;
  private waiters = new Set<() => void>();

  started(): void {
    this.active++;
  }

  finished(): void {
    this.active--;
    if (this.active === 0) this.waiters.forEach((wake) => wake());
  }

  idle(timeoutMs: number): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }
}

/** Call before registering routes: lets `closeServer` wait for requests in flight. */
export function trackRequests(app: FastifyInstance): void {
  const tracker = new RequestTracker();
  trackers.set(app, tracker);
  app.addHook('onRequest', async (_request, reply) => {
    tracker.started();
    reply.raw.once('close', () => tracker.finished());
  });
}

/**
 * Stops accepting connections, lets requests in flight finish (up to `graceMs`), then closes every remaining
 * connection. Node's own close leaves sockets that never sent a request (browsers open spare ones) open, which
 * would keep the daemon from exiting.
 */
export async function closeServer(app: FastifyInstance, graceMs: number): Promise<void> {
  const closed = app.close();
  await trackers.get(app)?.idle(graceMs);
  app.server.closeAllConnections();
  await closed;
}
