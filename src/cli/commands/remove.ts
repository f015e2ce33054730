import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { confirm } from '../confirm.ts';
import { withKeeper } from '../context.ts';

export function registerRemove(program: Command): void {
  program
    .command('remove')
    .description(
      'delete a connection from the store (with --revoke, revoke its tokens at the provider first); asks first on a terminal',
    )
    .argument('<name>', 'connection name')
    .option('--revoke', 'revoke the tokens at the provider (RFC 7009) before deleting')
    .option('-y, --yes', 'do not ask for confirmation (required when standard input is not a terminal)')
    .action(async (name: string, options: { revoke?: boolean; yes?: boolean }, command: Command) => {
      await withKeeper(command, async (keeper) => {
        const connection = await keeper.get(name);
        if (!connection) throw new TokenkeeperError('not_found', `no connection named "${name}"`);
        if (!options.yes) {
          const what = `connection ${name} (${connection.provider}, ${connection.account ?? 'account unknown'})`;
          const question = options.revoke ? `Revoke the tokens of and remove ${what}?` : `Remove ${what}?`;
          if (!(await confirm(question, '--yes'))) {
            process.stderr.write(`${name}: not removed\n`);
            process.exitCode = 1;
            return;
          }
        }
        const result = await keeper.remove(name, { revoke: options.revoke });
        process.stdout.write(
          `${name}: removed${result.revoked ? ' (tokens revoked at the provider)' : ''}\n`,
        );
      });
    });
}
