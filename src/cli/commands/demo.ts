import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { runDemo } from '../../demo/run-demo.ts';
import { serveDemo } from '../../demo/serve-demo.ts';

interface DemoCliOptions {
  duration?: string;
  lifetime?: string;
  chaos?: boolean;
  keep?: boolean;
  serve?: boolean;
  port?: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'watch tokenkeeper keep a simulated Fitbit connection alive (no account needed; nothing is kept); with --serve, run the simulated provider for your own CLI commands',
    )
    .option('--duration <seconds>', 'how long to run (default 20; with --serve, until Ctrl-C)')
    .option(
      '--lifetime <seconds>',
      'access-token lifetime of the simulated provider (default 6; 300 with --serve)',
    )
    .option('--chaos', 'inject a lost response and a 503 to show recovery')
    .option('--keep', 'keep the temporary store (with --serve: the temporary data dir and config)')
    .option(
      '--serve',
      'run the simulated provider on 127.0.0.1 until Ctrl-C/SIGTERM and print the config and commands to try against it',
    )
    .option('--port <port>', 'with --serve: port to listen on (default: a free one)')
    .action(async (options: DemoCliOptions) => {
      const durationSeconds =
        options.duration === undefined ? undefined : positive(options.duration, '--duration');
      if (options.serve) {
        if (options.chaos) throw new TokenkeeperError('usage', '--chaos cannot be combined with --serve');
        const port = options.port === undefined ? 0 : Number(options.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new TokenkeeperError('usage', `--port must be a port number, got "${options.port}"`);
        }
        await serveDemo({
          lifetimeSeconds: options.lifetime === undefined ? 300 : positive(options.lifetime, '--lifetime'),
          port,
          durationSeconds,
          keep: options.keep ?? false,
          write: (line) => process.stdout.write(`${line}\n`),
        });
        return;
      }
      const result = await runDemo({
        durationSeconds: durationSeconds ?? 20,
        lifetimeSeconds: options.lifetime === undefined ? 6 : positive(options.lifetime, '--lifetime'),
        chaos: options.chaos ?? false,
        keep: options.keep ?? false,
        write: (line) => process.stdout.write(`${line}\n`),
      });
      if (result.invalidGrant > 0 || !result.apiCheck) process.exitCode = 1;
    });
}

function positive(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new TokenkeeperError('usage', `${flag} must be a positive number of seconds, got "${value}"`);
  }
  return number;
}
