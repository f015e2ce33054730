import type { Command } from 'commander';
import { exitCodes, TokenkeeperError } from '../../core/errors.ts';
import { needsHuman } from '../../core/types.ts';
import type { ConnectionSummary, Keeper } from '../../keeper/keeper.ts';
import { summaryJson } from '../../keeper/summary-json.ts';
import { commandAction, withKeeper } from '../context.ts';
import type { CliIo, CommandResult } from '../io.ts';
import { formatAgo, formatDuration, printJson, table } from '../output.ts';

export interface StatusOptions {
  /** Only this connection; all when undefined. */
  name?: string;
  json: boolean;
}

export async function runStatus(options: StatusOptions, io: CliIo): Promise<CommandResult> {
  return withKeeper(io, async (keeper) => {
    const { name } = options;
    const connections = name === undefined ? await keeper.status() : [await oneConnection(keeper, name)];
    const code = connections.some((c) => needsHuman(c.status)) ? exitCodes.needsReauth : exitCodes.ok;
    if (options.json) {
      printJson(io, connections.map(summaryJson));
      return code;
    }
    if (connections.length === 0) {
      io.stdout.write(
        'No connections yet. Add one with `tokenkeeper connect <provider>` or `tokenkeeper add`.\n',
      );
      return code;
    }
    const now = Date.now();
    const rows = connections.map((c) => [
      c.name,
      c.provider,
      c.account ?? '-',
      c.refreshInProgress && c.status !== 'failing' ? 'refreshing' : c.status,
      c.expiresAt === undefined ? '-' : c.expiresAt > now ? formatDuration(c.expiresAt - now) : 'expired',
      formatAgo(c.lastRefreshAt, now),
      c.lastError ? c.lastError.slice(0, 80) : '-',
    ]);
    io.stdout.write(
      `${table(['NAME', 'PROVIDER', 'ACCOUNT', 'STATUS', 'EXPIRES IN', 'LAST REFRESH', 'LAST ERROR'], rows, io)}\n`,
    );
    return code;
  });
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'list connections (or one): provider, account, health, time to expiry, last refresh, last error; exits 3 if any shown needs a human (needs_reauth, provider_retired)',
    )
    .argument('[name]', 'show only this connection')
    .option('--json', 'print JSON (an array, also for one name)')
    .action(
      commandAction(
        (name: string | undefined, flags: { json?: boolean }) => ({ name, json: flags.json ?? false }),
        runStatus,
      ),
    );
}

async function oneConnection(keeper: Keeper, name: string): Promise<ConnectionSummary> {
  const summary = await keeper.get(name);
  if (!summary) {
    throw new TokenkeeperError(
      'not_found',
      `no connection named "${name}": run \`tokenkeeper status\` for the names`,
    );
  }
  return summary;
}
