import type { FastifyInstance } from 'fastify';
import { ApiKeyStore, apiKeyStorePath } from '../../src/api-keys/api-key-store.ts';
import type { Logger } from '../../src/core/logger.ts';
import { startDaemon, type DaemonOptions } from '../../src/daemon/start-daemon.ts';
import { createKeeper, type Keeper } from '../../src/keeper/keeper.ts';
import { Writable } from 'node:stream';
import { createLogger, type LogLevel } from '../../src/logging.ts';
import { DEFAULT_USER, type Harness, type OnFinished } from '../cli/harness.ts';
import { Waiters } from '../support/waiters.ts';
import { apiOver, type Fetch, type RunningDaemon } from './daemon.ts';

/** JSON log lines as `tokenkeeper run --log-format json` writes them (pino, the product's redaction), in memory. */
function captureLog(level: LogLevel) {
  let text = '';
  const waiters = new Waiters();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      waiters.notify();
      done();
    },
  });
  const logger: Logger = createLogger(level, 'json', sink);
  return {
    logger,
    text: () => text,
    waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
      return waiters.until(
        () => text.match(pattern) ?? undefined,
        timeoutMs,
        () => `the log did not match ${pattern} within ${timeoutMs} ms\nlog: ${text}`,
      );
    },
  };
}

/** fetch() answered by the server in this process, through fastify's inject(): no socket. */
function injectFetch(app: FastifyInstance): Fetch {
  return async (url, init = {}) => {
    const answer = await app.inject({
      method: (init.method ?? 'GET') as 'GET',
      url,
      headers: Object.fromEntries(new Headers(init.headers)),
      ...(init.body !== undefined && init.body !== null && { payload: String(init.body) }),
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      for (const one of [value ?? []].flat()) headers.append(name, String(one));
    }
    const empty = [204, 205, 304].includes(answer.statusCode);
    return new Response(empty ? null : answer.rawPayload, { status: answer.statusCode, headers });
  };
}

export interface DaemonKeeper {
  keeper: Keeper;
  /** Like `tokenkeeper add <name> --provider fitbit --refresh-token -`, which verifies with one refresh. */
  addConnection(name: string, userId?: string): Promise<void>;
  /** Like `tokenkeeper api-key create --scope …`. */
  createApiKey(scopes: string[]): string;
  /** `startDaemon` on this keeper, listening on 127.0.0.1:0, as `run --listen 127.0.0.1:0` composes it. */
  startDaemon(options?: Partial<DaemonOptions>): Promise<RunningDaemon>;
}

/**
 * The keeper `tokenkeeper run` would open for the harness (its config, home and environment), in this process,
 * logging as `--log-format json --log-level <logLevel>` does. Closed when the test finishes.
 */
export async function openDaemonKeeper(
  h: Harness,
  onFinished: OnFinished,
  options: { logLevel?: LogLevel } = {},
): Promise<DaemonKeeper> {
  const log = captureLog(options.logLevel ?? 'info');
  const keeper = await createKeeper({ config: h.configPath, env: h.env, logger: log.logger });
  const stops: Array<() => Promise<unknown>> = [];
  onFinished(async () => {
    await Promise.all(stops.map((stop) => stop()));
    await keeper.close();
  });
  return {
    keeper,
    async addConnection(name, userId = DEFAULT_USER) {
      const seed = h.seed({ userId });
      await keeper.addConnection({
        name,
        provider: 'fitbit',
        clientId: h.sim.clientId,
        clientSecret: h.sim.clientSecret,
        tokens: { refreshToken: seed.refreshToken },
      });
      await keeper.refresh(name, { force: true });
      h.snapshotSecrets();
    },
    createApiKey(scopes) {
      const store = ApiKeyStore.open(apiKeyStorePath(h.home));
      try {
        const { key } = store.create({ scopes });
        h.secrets.add(key);
        return key;
      } finally {
        store.close();
      }
    },
    async startDaemon(daemonOptions = {}) {
      const daemon = await startDaemon(keeper, {
        logger: log.logger,
        env: h.env,
        ...daemonOptions,
        listen: daemonOptions.listen ?? '127.0.0.1:0',
      });
      stops.push(() => daemon.stop());
      if (!daemon.server || !daemon.url) throw new Error(`the daemon serves no HTTP:\n${log.text()}`);
      const fetcher = injectFetch(daemon.server);
      return {
        url: daemon.url,
        fetch: fetcher,
        api: apiOver(fetcher),
        output: log.text,
        waitForOutput: log.waitFor,
        async stop() {
          await daemon.stop();
        },
      };
    },
  };
}
