import type { Command } from 'commander';
import { exitCodes, TokenkeeperError } from '../../core/errors.ts';
import { confirm } from '../confirm.ts';
import { commandAction, withKeeper } from '../context.ts';
import type { CliIo, CommandResult } from '../io.ts';

export interface RemoveOptions {
  name: string;
  /** Revoke the tokens at the provider first. */
  revoke: boolean;
  /** Do not ask. */
  yes: boolean;
}

export async function runRemove(options: RemoveOptions, io: CliIo): Promise<CommandResult> {
  const { name } = options;
  return withKeeper(io, async (keeper) => {
    const connection = await keeper.get(name);
    if (!connection) throw new TokenkeeperError('not_found', `no connection named "${name}"`);
    if (!options.yes) {
      const what = `connection ${name} (${connection.provider}, ${connection.account ?? 'account unknown'})`;
      const question = options.revoke ? `Revoke the tokens of and remove ${what}?` : `Remove ${what}?`;
      if (!(await confirm(question, '--yes', io))) {
        io.stderr.write(`${name}: not removed\n`);
        return exitCodes.failure;
      }
    }
    const result = await keeper.remove(name, { revoke: options.revoke });
    io.stdout.write(`${name}: removed${result.revoked ? ' (tokens revoked at the provider)' : ''}\n`);
    return exitCodes.ok;
  });
}

export function registerRemove(program: Command): void {
  program
    .command('remove')
    .description(
      'delete a connection from the store (with --revoke, revoke its tokens at the provider first); asks first on a terminal',
    )
    .argument('<name>', 'connection name')
    .option('--revoke', 'revoke the tokens at the provider (RFC 7009) before deleting')
    .option('-y, --yes', 'do not ask for confirmation (required when standard input is not a terminal)')
    .action(
      commandAction(
        (name: string, flags: { revoke?: boolean; yes?: boolean }) => ({
          name,
          revoke: flags.revoke ?? false,
          yes: flags.yes ?? false,
        }),
        runRemove,
      ),
    );
}
