import type { Command } from 'commander';
import { createKeeper, type Keeper } from '../keeper/keeper.ts';
import { createLogger, type LogFormat, type LogLevel } from '../logging.ts';
import type { Logger } from '../core/logger.ts';
import { loadConfig } from '../config/load.ts';

export interface GlobalOptions {
  config?: string;
  store?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

export interface CliContext {
  logger: Logger;
  globals: GlobalOptions;
}

export function globalsOf(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function contextOf(command: Command, defaultLevel: LogLevel = 'warn'): CliContext {
  const globals = globalsOf(command);
  const level =
    globals.logLevel ?? (process.env.TOKENKEEPER_LOG_LEVEL as LogLevel | undefined) ?? defaultLevel;
  const format = globals.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json');
  return { logger: createLogger(level, format), globals };
}

/** Opens the keeper for one command and always closes it. */
export async function withKeeper<T>(
  command: Command,
  work: (keeper: Keeper, context: CliContext) => Promise<T>,
  defaultLevel: LogLevel = 'warn',
): Promise<T> {
  const context = contextOf(command, defaultLevel);
  const keeper = await createKeeper({
    config: context.globals.config,
    store: context.globals.store,
    logger: context.logger,
  });
  try {
    return await work(keeper, context);
  } finally {
    await keeper.close();
  }
}

export function configOf(command: Command) {
  const globals = globalsOf(command);
  return loadConfig({ path: globals.config, store: globals.store });
}
