/**
 * The `tokenkeeper` command tree. Only the commands a run needs are defined in full (their modules imported);
 * every other command is listed by name and description from the command table, which is all `--help` shows.
 */
import { Command, Option } from 'commander';
import { commandTable } from './command-table.ts';
import { version } from '../version.ts';

const exitCodeHelp = `
Exit codes:
  0  success
  1  failure (unexpected error, or the provider rejected a request)
  2  usage or configuration error (bad arguments, config, unknown provider or connection, invalid client)
  3  a human must re-authorise: refresh token rejected (needs_reauth) or provider retired
  4  provider unavailable: network error, timeout, 429/5xx, or a malformed provider response
  5  store error: cannot open or write the store, wrong encryption key, lock timeout
  6  status only: nothing needs a human now, but a refresh token expires soon (expiring_soon)

Environment: TOKENKEEPER_HOME (data dir), TOKENKEEPER_STORE, TOKENKEEPER_CONFIG, TOKENKEEPER_KEY,
TOKENKEEPER_KEY_FILE, TOKENKEEPER_PREVIOUS_KEYS, TOKENKEEPER_LOG_LEVEL.`;

/** The program with its global options and help text, and no commands yet. */
function rootProgram(): Command {
  return new Command('tokenkeeper')
    .description('Keeps OAuth 2.0 tokens alive and safe (Google Health, Fitbit and other OAuth 2.0 APIs).')
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
}

/**
 * The command `args` (process.argv without node and script) runs, or asks help for (`help <command>`), found
 * with commander's own parsing of the global options; undefined when there is none or the arguments are bad
 * (the real parse then reports them).
 */
export function commandNamed(args: readonly string[]): string | undefined {
  const scan = rootProgram().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  try {
    const { operands } = scan.parseOptions([...args]);
    const [first, second] = operands;
    return first === 'help' ? second : first;
  } catch {
    return undefined;
  }
}

/** The program with `load` defined in full ('all': every command, e.g. for shell completion). */
export async function buildProgram(load: 'all' | string | undefined): Promise<Command> {
  const program = rootProgram();
  const wanted = commandTable.filter((entry) => load === 'all' || entry.name === load);
  const registers = new Map(
    await Promise.all(wanted.map(async (entry) => [entry.name, await entry.load()] as const)),
  );
  for (const entry of commandTable) {
    const register = registers.get(entry.name);
    if (register) {
      register(program);
    } else {
      program
        .command(entry.name)
        .description(entry.description)
        .action(() => {
          throw new Error(`internal error: command "${entry.name}" ran without its module`);
        });
    }
  }
  for (const command of program.commands) command.exitOverride();
  return program;
}
