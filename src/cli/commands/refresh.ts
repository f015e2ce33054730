import type { Command } from 'commander';
import { exitCodes, TokenkeeperError } from '../../core/errors.ts';
import { summaryJson } from '../../keeper/summary-json.ts';
import { commandAction, withKeeper } from '../context.ts';
import type { CliIo, CommandResult } from '../io.ts';
import { describeCliError, formatDuration, printJson } from '../output.ts';

export interface RefreshOptions {
  /** The connections to refresh; every one with `all`. */
  names: string[];
  all: boolean;
  force: boolean;
  json: boolean;
}

interface RefreshFlags {
  all?: boolean;
  force?: boolean;
  json?: boolean;
}

export function refreshOptions(names: string[], flags: RefreshFlags): RefreshOptions {
  if (names.length === 0 && !flags.all) {
    throw new TokenkeeperError('usage', 'name the connections to refresh, or pass --all');
  }
  return { names, all: flags.all ?? false, force: flags.force ?? false, json: flags.json ?? false };
}

export async function runRefresh(options: RefreshOptions, io: CliIo): Promise<CommandResult> {
  return withKeeper(
    io,
    async (keeper) => {
      const targets = options.all ? (await keeper.status()).map((c) => c.name) : options.names;
      const results = [];
      let worstExitCode: number = exitCodes.ok;
      for (const name of targets) {
        try {
          const { summary, outcome } = await keeper.refreshReporting(name, { force: options.force });
          results.push({ ...summaryJson(summary), ok: true, outcome });
          if (!options.json) {
            const left =
              summary.expiresAt === undefined ? '?' : formatDuration(summary.expiresAt - Date.now());
            const did = outcome === 'refreshed' ? 'refreshed' : 'not due';
            io.stdout.write(`${name}: ${did}, access token valid for ${left}\n`);
          }
        } catch (error) {
          const message = describeCliError(error);
          results.push({ name, ok: false, outcome: 'failed', error: message });
          if (!options.json) io.stderr.write(`${name}: FAILED: ${message}\n`);
          worstExitCode = Math.max(
            worstExitCode,
            error instanceof TokenkeeperError ? error.exitCode : exitCodes.failure,
          );
        }
      }
      if (options.json) printJson(io, results);
      return worstExitCode;
    },
    'info',
  );
}

export function registerRefresh(program: Command): void {
  program
    .command('refresh')
    .description(
      'refresh connections that are due (or all with --force); says per name: refreshed, not due, or FAILED (on stderr); exits non-zero if any failed',
    )
    .argument('[names...]', 'connection names')
    .option('--all', 'every connection')
    .option('--force', 'refresh even if the access token is not due yet, or the provider was retired')
    .option('--json', 'print JSON: one entry per connection, with outcome refreshed, not_due or failed')
    .action(commandAction(refreshOptions, runRefresh));
}
