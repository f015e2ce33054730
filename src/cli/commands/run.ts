import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { runScheduler } from '../../daemon/scheduler.ts';
import { scheduleOverview } from '../../daemon/overview.ts';
import { startDaemonServices } from '../../server/serve.ts';
import { withKeeper } from '../context.ts';
import { formatDuration } from '../output.ts';

interface RunOptions {
  concurrency?: string;
  duration?: string;
  listen?: string;
  server: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'daemon: refresh every connection when it falls due and serve the token API, status page and metrics, until SIGTERM/SIGINT (finishes in-flight refreshes)',
    )
    .option('--concurrency <n>', 'refreshes at once (default: daemon.concurrency or 4)')
    .option('--duration <seconds>', 'stop by itself after this long (e.g. cron-style use)')
    .option('--listen <host:port>', 'address of the HTTP server (default: server.listen or 127.0.0.1:8977)')
    .option('--no-server', 'refresh only: no HTTP API, status page or metrics (webhooks still run)')
    .option('--tls-cert <path>', 'serve HTTPS with this PEM certificate (chain) file (with --tls-key)')
    .option('--tls-key <path>', 'PEM private key file for --tls-cert')
    .action(async (options: RunOptions, command: Command) => {
      await withKeeper(
        command,
        async (keeper, { logger }) => {
          const concurrency = Number(options.concurrency ?? keeper.loaded.config.daemon?.concurrency ?? 4);
          if (!Number.isInteger(concurrency) || concurrency < 1) {
            throw new TokenkeeperError(
              'usage',
              `--concurrency must be a positive whole number, got "${options.concurrency}"`,
            );
          }
          let durationMs: number | undefined;
          if (options.duration !== undefined) {
            const seconds = Number(options.duration);
            if (!Number.isFinite(seconds) || seconds <= 0) {
              throw new TokenkeeperError(
                'usage',
                `--duration must be a positive number of seconds, got "${options.duration}"`,
              );
            }
            durationMs = seconds * 1000;
          }
          if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
            throw new TokenkeeperError('usage', '--tls-cert and --tls-key go together: pass both or neither');
          }
          const stop = new AbortController();
          const services = await startDaemonServices(keeper, logger, {
            server: options.server,
            listen: options.listen,
            tls:
              options.tlsCert && options.tlsKey ? { cert: options.tlsCert, key: options.tlsKey } : undefined,
            isStopping: () => stop.signal.aborted,
          });
          const onSignal = (signal: NodeJS.Signals) => {
            logger.info({ signal }, 'stopping: finishing in-flight refreshes');
            stop.abort();
          };
          process.once('SIGTERM', onSignal);
          process.once('SIGINT', onSignal);
          if (durationMs !== undefined) setTimeout(() => stop.abort(), durationMs).unref();
          try {
            const overview = await scheduleOverview(keeper);
            const next = overview.nextRefreshAt;
            logger.info(
              {
                store: keeper.store.location,
                connections: overview.connections,
                nextRefreshIn: next === undefined ? '-' : formatDuration(Math.max(0, next - keeper.now())),
                ...(services.url && { url: services.url }),
              },
              'tokenkeeper running',
            );
            const stats = await runScheduler(keeper, {
              concurrency,
              maxSleepMs: (keeper.loaded.config.daemon?.maxSleepSeconds ?? 60) * 1000,
              signal: stop.signal,
              logger,
            });
            await services.close();
            logger.info({ refreshed: stats.refreshed, failed: stats.failed }, 'stopped');
          } finally {
            stop.abort();
            await services.close();
            process.off('SIGTERM', onSignal);
            process.off('SIGINT', onSignal);
          }
        },
        'info',
      );
    });
}
