import type { Command } from 'commander';
import { withKeeper } from '../context.ts';
import { formatAgo, formatDuration, printJson, table } from '../output.ts';
import { summaryJson } from './summary-json.ts';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list connections: provider, account, health, time to expiry, last refresh, last error')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withKeeper(command, async (keeper) => {
        const connections = await keeper.status();
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
