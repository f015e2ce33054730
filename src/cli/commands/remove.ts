import type { Command } from 'commander';
import { withKeeper } from '../context.ts';

export function registerRemove(program: Command): void {
  program
    .command('remove')
    .description(
      'delete a connection from the store (with --revoke, revoke its tokens at the provider first)',
    )
    .argument('<name>', 'connection name')
    .option('--revoke', 'revoke the tokens at the provider (RFC 7009) before deleting')
    .action(async (name: string, options: { revoke?: boolean }, command: Command) => {
      await withKeeper(command, async (keeper) => {
        const result = await keeper.remove(name, { revoke: options.revoke });
        process.stdout.write(
          `${name}: removed${result.revoked ? ' (tokens revoked at the provider)' : ''}\n`,
        );
      });
    });
}
