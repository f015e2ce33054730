import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { Keeper } from '../../keeper/keeper.ts';
import { configDefaults } from '../../config/defaults.ts';
import { startDaemon } from '../../daemon/start-daemon.ts';
import { DEFAULT_LISTEN } from '../../server/listen.ts';
import { LOGIN_TICKET_TTL_MS } from '../../server/operator-auth.ts';
import { withKeeper } from '../context.ts';

/** What commander hands the action: strings, as typed. */
interface RunFlags {
  concurrency?: string;
  duration?: string;
  listen?: string;
  server: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export interface RunOptions {
  concurrency?: number;
  durationMs?: number;
  listen?: string;
  server: boolean;
  tls?: { cert: string; key: string };
}

export interface RunIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'daemon: refresh every connection when it falls due and serve the token API, status page and metrics, until SIGTERM/SIGINT (finishes in-flight refreshes)',
    )
    .option(
      '--concurrency <n>',
      `refreshes at once (default: daemon.concurrency or ${configDefaults.daemon.concurrency})`,
    )
    .option('--duration <seconds>', 'stop by itself after this long (e.g. cron-style use)')
    .option(
      '--listen <host:port>',
      `address of the HTTP server (default: server.listen or ${DEFAULT_LISTEN}); port 0 picks a free one`,
    )
    .option('--no-server', 'refresh only: no HTTP API, status page or metrics (webhooks still run)')
    .option('--tls-cert <path>', 'serve HTTPS with this PEM certificate (chain) file (with --tls-key)')
    .option('--tls-key <path>', 'PEM private key file for --tls-cert')
    .action(async (flags: RunFlags, command: Command) => {
      const options = parseRunFlags(flags);
      await withKeeper(
        command,
        (keeper, { logger }) =>
          runDaemon(keeper, logger, options, { stdout: process.stdout, stderr: process.stderr }),
        'info',
        undefined,
        'delivered by the command',
      );
    });
}

export function parseRunFlags(flags: RunFlags): RunOptions {
  let concurrency: number | undefined;
  if (flags.concurrency !== undefined) {
    concurrency = Number(flags.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new TokenkeeperError(
        'usage',
        `--concurrency must be a positive whole number, got "${flags.concurrency}"`,
      );
    }
  }
  let durationMs: number | undefined;
  if (flags.duration !== undefined) {
    const seconds = Number(flags.duration);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new TokenkeeperError(
        'usage',
        `--duration must be a positive number of seconds, got "${flags.duration}"`,
      );
    }
    durationMs = seconds * 1000;
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new TokenkeeperError('usage', '--tls-cert and --tls-key go together: pass both or neither');
  }
  return {
    concurrency,
    durationMs,
    listen: flags.listen,
    server: flags.server,
    tls: flags.tlsCert && flags.tlsKey ? { cert: flags.tlsCert, key: flags.tlsKey } : undefined,
  };
}

/**
 * Runs the daemon until SIGTERM/SIGINT or --duration. Once it serves, prints its ready line on stdout:
 * `ready <url>` (or `ready` alone without a server), the one line of stdout `run` writes.
 */
export async function runDaemon(
  keeper: Keeper,
  logger: Logger,
  options: RunOptions,
  io: RunIo,
): Promise<void> {
  const daemon = await startDaemon(keeper, {
    logger,
    ...options,
    stopSignals: ['SIGTERM', 'SIGINT'],
    onLoginLink: io.stderr.isTTY
      ? (link) =>
          io.stderr.write(
            `\n  Status page (one-time operator login, valid ${LOGIN_TICKET_TTL_MS / 60_000} minutes): ${link}\n\n`,
          )
      : undefined,
  });
  io.stdout.write(daemon.url === undefined ? 'ready\n' : `ready ${daemon.url}\n`);
  await daemon.done;
}
