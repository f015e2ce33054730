import type { Command } from 'commander';
import { exitCodes, TokenkeeperError } from '../../core/errors.ts';
import { runDemo } from '../../demo/run-demo.ts';
import { serveDemo } from '../../demo/serve-demo.ts';
import { commandAction } from '../context.ts';
import type { CliIo, CommandResult } from '../io.ts';
import { optionalSeconds, portOption } from '../option-values.ts';

export const demoDefaults = {
  durationSeconds: 20,
  lifetimeSeconds: 6,
  serve: { lifetimeSeconds: 300, port: 0 },
};

/** The watched demo, or with `serve` the simulated provider for the user's own commands. */
export type DemoOptions =
  | { serve: false; durationSeconds: number; lifetimeSeconds: number; chaos: boolean; keep: boolean }
  | { serve: true; durationSeconds?: number; lifetimeSeconds: number; port: number; keep: boolean };

interface DemoFlags {
  duration?: string;
  lifetime?: string;
  chaos?: boolean;
  keep?: boolean;
  serve?: boolean;
  port?: string;
}

export function demoOptions(flags: DemoFlags): DemoOptions {
  const durationSeconds = optionalSeconds(flags.duration, '--duration', { positive: true });
  const lifetimeSeconds = optionalSeconds(flags.lifetime, '--lifetime', { positive: true });
  const keep = flags.keep ?? false;
  if (flags.serve) {
    if (flags.chaos) throw new TokenkeeperError('usage', '--chaos cannot be combined with --serve');
    return {
      serve: true,
      ...(durationSeconds !== undefined && { durationSeconds }),
      lifetimeSeconds: lifetimeSeconds ?? demoDefaults.serve.lifetimeSeconds,
      port: flags.port === undefined ? demoDefaults.serve.port : portOption(flags.port, '--port'),
      keep,
    };
  }
  return {
    serve: false,
    durationSeconds: durationSeconds ?? demoDefaults.durationSeconds,
    lifetimeSeconds: lifetimeSeconds ?? demoDefaults.lifetimeSeconds,
    chaos: flags.chaos ?? false,
    keep,
  };
}

export async function runDemoCommand(options: DemoOptions, io: CliIo): Promise<CommandResult> {
  const write = (line: string) => io.stdout.write(`${line}\n`);
  if (options.serve) {
    await serveDemo({
      lifetimeSeconds: options.lifetimeSeconds,
      port: options.port,
      durationSeconds: options.durationSeconds,
      keep: options.keep,
      write,
    });
    return exitCodes.ok;
  }
  const result = await runDemo({
    durationSeconds: options.durationSeconds,
    lifetimeSeconds: options.lifetimeSeconds,
    chaos: options.chaos,
    keep: options.keep,
    write,
  });
  return result.invalidGrant > 0 || !result.apiCheck ? exitCodes.failure : exitCodes.ok;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'watch tokenkeeper keep a simulated Fitbit connection alive (no account needed; nothing is kept); with --serve, run the simulated provider for your own CLI commands',
    )
    .option(
      '--duration <seconds>',
      `how long to run (default ${demoDefaults.durationSeconds}; with --serve, until Ctrl-C)`,
    )
    .option(
      '--lifetime <seconds>',
      `access-token lifetime of the simulated provider (default ${demoDefaults.lifetimeSeconds}; ${demoDefaults.serve.lifetimeSeconds} with --serve)`,
    )
    .option('--chaos', 'inject a lost response and a 503 to show recovery')
    .option('--keep', 'keep the temporary store (with --serve: the temporary data dir and config)')
    .option(
      '--serve',
      'run the simulated provider on 127.0.0.1 until Ctrl-C/SIGTERM and print the config and commands to try against it',
    )
    .option('--port <port>', 'with --serve: port to listen on (default: a free one)')
    .action(commandAction(demoOptions, runDemoCommand));
}
