import type { Command } from 'commander';
import type { Logger } from '../core/logger.ts';
import { resolveSettings, type Settings, type SettingsFlags } from '../config/settings.ts';
import { createKeeper, type Keeper } from '../keeper/keeper.ts';
import { createLogger, type LogLevel } from '../logging.ts';
import { processIo, type CliIo, type CommandResult, type GlobalOptions } from './io.ts';
import { queueWebhookEvents } from './webhook-queue.ts';

export type { GlobalOptions };

export interface CliContext {
  logger: Logger;
  globals: GlobalOptions;
  settings: Settings;
}

/** The process's io with the global options of the command commander is running. */
export function ioOf(command: Command): CliIo {
  const { config, store, logLevel, logFormat } = command.optsWithGlobals<GlobalOptions>();
  return processIo({ config, store, logLevel, logFormat });
}

/**
 * commander's action for a command written as `parse(...arguments, flags)` into its options, then
 * `run(options, io)`: commander hands over the arguments and flags, and the command whose global options the io
 * carries. The exit code `run` returns becomes the process's.
 */
export function commandAction<Args extends unknown[], Options>(
  parse: (...args: Args) => Options,
  run: (options: Options, io: CliIo) => Promise<CommandResult> | CommandResult,
): (...args: [...Args, Command]) => Promise<void> {
  return async (...args) => {
    const command = args.at(-1) as Command;
    const code = await run(parse(...(args.slice(0, -1) as Args)), ioOf(command));
    if (typeof code === 'number' && code !== 0) process.exitCode = code;
  };
}

const resolved = new WeakMap<CliIo, Settings>();

/**
 * The settings of this run: the global options, the command's own `flags` for config keys, the environment,
 * the config file and the defaults, resolved once (a second call with the same io and no flags reuses them).
 */
export function settingsOf(io: CliIo, flags?: SettingsFlags): Settings {
  const known = flags ? undefined : resolved.get(io);
  if (known) return known;
  const settings = resolveSettings({
    config: io.globals.config,
    store: io.globals.store,
    logLevel: io.globals.logLevel,
    flags,
    env: io.env,
    cwd: io.cwd,
  });
  if (!flags) resolved.set(io, settings);
  return settings;
}

/**
 * The CLI's logger on stderr: the level of --log-level, TOKENKEEPER_LOG_LEVEL or "logLevel" (in that order),
 * else the command's own default; pretty lines on a terminal, else JSON, unless --log-format says otherwise.
 */
export function loggerOf(io: CliIo, settings: Settings, defaultLevel: LogLevel): Logger {
  const format = io.globals.logFormat ?? (io.stderr.isTTY ? 'pretty' : 'json');
  return createLogger(settings.logLevel ?? defaultLevel, format, io.stderr);
}

/**
 * What a command does with the webhook events it raises: `queue` them in the store's outbox for the daemon
 * (cli/webhook-queue.ts), or nothing, for the daemon itself, which delivers its own.
 */
export type CommandWebhooks = 'queue' | 'delivered by the command';

/**
 * Opens the keeper for one command and always closes it. `source` is the command's io (or, for commands not yet
 * written as `run(options, io)`, the commander command).
 */
export async function withKeeper<T>(
  source: CliIo | Command,
  work: (keeper: Keeper, context: CliContext) => Promise<T>,
  defaultLevel: LogLevel = 'warn',
  flags?: SettingsFlags,
  webhooks: CommandWebhooks = 'queue',
): Promise<T> {
  const io = 'optsWithGlobals' in source ? ioOf(source) : source;
  const settings = settingsOf(io, flags);
  const logger = loggerOf(io, settings, defaultLevel);
  const keeper = await createKeeper({ resolved: settings, env: io.env, logger });
  const queue = webhooks === 'queue' ? queueWebhookEvents(keeper, io.env, logger) : undefined;
  try {
    return await work(keeper, { logger, globals: io.globals, settings });
  } finally {
    await queue?.close();
    await keeper.close();
  }
}
