import type { Command } from 'commander';
import { exitCodes, TokenkeeperError } from '../../core/errors.ts';
import { reconnectCommand, replaceCommand, rotateSecretAdvice } from '../../core/links.ts';
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
    const code = statusExitCode(connections);
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
    const now = keeper.now();
    const rows = connections.map((c) => [
      c.name,
      c.provider,
      c.account ?? '-',
      shownStatus(c),
      timeLeft(c.expiresAt, now),
      timeLeft(c.refreshTokenExpiresAt, now),
      formatAgo(c.lastRefreshAt, now),
      c.lastError ? c.lastError.slice(0, 80) : '-',
    ]);
    const headers = ['NAME', 'PROVIDER', 'ACCOUNT', 'STATUS', 'EXPIRES IN', 'RT EXPIRES IN', 'LAST REFRESH'];
    io.stdout.write(`${table([...headers, 'LAST ERROR'], rows, io)}\n`);
    const hints = connections.flatMap((c) => whatToDo(c, now) ?? []);
    if (hints.length > 0) io.stdout.write(`\n${hints.join('\n')}\n`);
    return code;
  });
}

/**
 * What `status` exits with: 3 when a shown connection needs a human now, else 6 when a refresh token of one
 * dies within its warning window (a human should act soon), else 0.
 */
export function statusExitCode(connections: readonly ConnectionSummary[]): number {
  if (connections.some((c) => needsHuman(c.status))) return exitCodes.needsReauth;
  if (connections.some((c) => c.expiringSoon)) return exitCodes.expiringSoon;
  return exitCodes.ok;
}

/** The STATUS cell: the stored status, `refreshing` while a refresh runs, `expiring_soon` in the warning window. */
function shownStatus(c: ConnectionSummary): string {
  if (c.refreshInProgress && c.status !== 'failing' && !needsHuman(c.status)) return 'refreshing';
  if (c.status === 'active' && c.expiringSoon) return 'expiring_soon';
  return c.status;
}

function timeLeft(at: number | undefined, now: number): string {
  if (at === undefined) return '-';
  return at > now ? formatDuration(at - now) : 'expired';
}

/** The line below the table that tells a human what to run, for connections that need one now or soon. */
function whatToDo(c: ConnectionSummary, now: number): string | undefined {
  if (c.status === 'provider_retired' && c.successor !== undefined) {
    return `${c.name}: ${c.provider} is retired, replaced by ${c.successor}: run \`${replaceCommand(c.successor, c.name)}\``;
  }
  if (c.status === 'needs_reauth') {
    return `${c.name}: the provider no longer accepts its refresh token: run \`${reconnectCommand(c.provider, c.name)}\``;
  }
  if (c.expiring) {
    const left = c.expiring.at - now;
    if (c.expiring.what === 'client_secret') {
      const when = left > 0 ? `expires in ${formatDuration(left)}` : 'has expired';
      return `${c.name}: the client secret of ${c.provider} ${when}: ${rotateSecretAdvice(c.provider)}`;
    }
    const when =
      left > 0 ? `expires in ${formatDuration(left)}; reconnect before then` : 'has expired; reconnect';
    return `${c.name}: the refresh token ${when}: run \`${reconnectCommand(c.provider, c.name)}\``;
  }
  return undefined;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'list connections (or one): provider, account, health, time to expiry of the access and refresh tokens, last refresh, last error; exits 3 if any shown needs a human (needs_reauth, provider_retired), else 6 if a refresh token or client secret of one expires soon (expiring_soon), else 0',
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
