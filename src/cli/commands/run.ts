import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { runScheduler } from '../../daemon/scheduler.ts';
import { withKeeper } from '../context.ts';
import { formatDuration } from '../output.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'daemon: refresh every connection when it falls due, until SIGTERM/SIGINT (finishes in-flight refreshes)',
    )
    .option('--concurrency <n>', 'refreshes at once (default: daemon.concurrency or 4)')
    .option('--duration <seconds>', 'stop by itself after this long (for tests and cron-style use)')
    .action(async (options: { concurrency?: string; duration?: string }, command: Command) => {
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
          const stop = new AbortController();
          const onSignal = (signal: NodeJS.Signals) => {
            logger.info({ signal }, 'stopping: finishing in-flight refreshes');
            stop.abort();
          };
          process.once('SIGTERM', onSignal);
          process.once('SIGINT', onSignal);
          if (options.duration !== undefined) {
            const seconds = Number(options.duration);
            if (!Number.isFinite(seconds) || seconds <= 0) {
              throw new TokenkeeperError(
                'usage',
                `--duration must be a positive number of seconds, got "${options.duration}"`,
              );
            }
            setTimeout(() => stop.abort(), seconds * 1000).unref();
          }
          const connections = await keeper.status();
          const next = connections
            .map((c) => c.nextRefreshAt)
            .filter((at): at is number => at !== undefined)
            .sort((a, b) => a - b)[0];
          logger.info(
            {
              store: keeper.store.location,
              connections: connections.length,
              nextRefreshIn: next === undefined ? '-' : formatDuration(Math.max(0, next - Date.now())),
            },
            'tokenkeeper running',
          );
          const stats = await runScheduler(keeper, {
            concurrency,
            maxSleepMs: (keeper.loaded.config.daemon?.maxSleepSeconds ?? 60) * 1000,
            signal: stop.signal,
            logger,
          });
          logger.info({ refreshed: stats.refreshed, failed: stats.failed }, 'stopped');
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        },
        'info',
      );
    });
}
