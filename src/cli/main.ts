#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { describeError, exitCodes, TokenkeeperError } from '../core/errors.ts';
import { formatCliError } from './colour.ts';
import { registerAdd } from './commands/add.ts';
import { registerApiKey } from './commands/api-key.ts';
import { registerConnect } from './commands/connect.ts';
import { registerDemo } from './commands/demo.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerFetch } from './commands/fetch.ts';
import { registerLogin } from './commands/login.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerProviders } from './commands/providers.ts';
import { registerRefresh } from './commands/refresh.ts';
import { registerRemove } from './commands/remove.ts';
import { registerRun } from './commands/run.ts';
import { registerStatus } from './commands/status.ts';
import { registerToken } from './commands/token.ts';
import { registerWebhook } from './commands/webhook.ts';
import { version } from '../version.ts';

const exitCodeHelp = `
Exit codes:
  0  success
  1  failure (unexpected error, or the provider rejected a request)
  2  usage or configuration error (bad arguments, config, unknown provider or connection, invalid client)
  3  a human must re-authorise: refresh token rejected (needs_reauth) or provider retired
  4  provider unavailable: network error, timeout, 429/5xx, or a malformed provider response
  5  store error: cannot open or write the store, wrong encryption key, lock timeout

Environment: TOKENKEEPER_HOME (data dir), TOKENKEEPER_STORE, TOKENKEEPER_CONFIG, TOKENKEEPER_KEY,
TOKENKEEPER_KEY_FILE, TOKENKEEPER_PREVIOUS_KEYS, TOKENKEEPER_LOG_LEVEL.`;

export function buildProgram(): Command {
  const program = new Command('tokenkeeper')
    .description('Keeps OAuth 2.0 tokens alive and safe (Fitbit, Google Health and other OAuth 2.0 APIs).')
    .version(version)
    .option('--config <path>', 'config file (default: TOKENKEEPER_CONFIG or ./tokenkeeper.json)')
    .option(
      '--store <spec>',
      'store: a SQLite file path (default <data dir>/tokenkeeper.db), postgres://… or keyvault://…',
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']),
    )
    .addOption(
      new Option('--log-format <format>', 'log format (default: pretty on a terminal, else json)').choices([
        'json',
        'pretty',
      ]),
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', exitCodeHelp)
    .exitOverride();
  for (const register of [
    registerConnect,
    registerAdd,
    registerRefresh,
    registerToken,
    registerStatus,
    registerProviders,
    registerRemove,
    registerRun,
    registerMigrate,
    registerApiKey,
    registerLogin,
    registerWebhook,
    registerFetch,
    registerDemo,
    registerDoctor,
  ]) {
    register(program);
  }
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : exitCodes.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    const code = error instanceof TokenkeeperError ? error.exitCode : exitCodes.failure;
    process.stderr.write(formatCliError(describeError(error), process.stderr));
    if (!(error instanceof TokenkeeperError) && process.env.TOKENKEEPER_LOG_LEVEL === 'debug') {
      process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    }
    return code;
  }
}

if (import.meta.main ?? /[/\\]cli[/\\]main\.[jt]s$/.test(process.argv[1] ?? '')) {
  process.exitCode = await main(process.argv);
}
