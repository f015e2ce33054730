import type { Command } from 'commander';
import { exitCodes, TokenkeeperError } from '../../core/errors.ts';
import { needsHuman } from '../../core/types.ts';
import type { ConnectionSummary, Keeper } from '../../keeper/keeper.ts';
import { withKeeper } from '../context.ts';
import { formatAgo, formatDuration, printJson, table } from '../output.ts';
import { summaryJson } from '../../keeper/summary-json.ts';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'list connections (or one): provider, account, health, time to expiry, last refresh, last error; exits 3 if any shown needs a human (needs_reauth, provider_retired)',
    )
    .argument('[name]', 'show only this connection')
    .option('--json', 'print JSON (an array, also for one name)')
    .action(async (name: string | undefined, options: { json?: boolean }, command: Command) => {
      await withKeeper(command, async (keeper) => {
        const connections = name === undefined ? await keeper.status() : [await oneConnection(keeper, name)];
        if (connections.some((c) => needsHuman(c.status))) process.exitCode = exitCodes.needsReauth;
        if (options.json) return printJson(connections.map(summaryJson));
        if (connections.length === 0) {
          process.stdout.write(
            'No connections yet. Add one with `tokenkeeper connect <provider>` or `tokenkeeper add`.\n',
          );
          return;
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
        process.stdout.write(
          `${table(['NAME', 'PROVIDER', 'ACCOUNT', 'STATUS', 'EXPIRES IN', 'LAST REFRESH', 'LAST ERROR'], rows)}\n`,
        );
      });
    });
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
