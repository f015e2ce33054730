import type { Command } from 'commander';
import { withKeeper } from '../context.ts';

export function registerToken(program: Command): void {
  program
    .command('token')
    .description(
      'print a valid access token (refreshing it first if due), for: curl -H "Authorization: Bearer $(tokenkeeper token me)"',
    )
    .argument('<name>', 'connection name')
    .action(async (name: string, _options: object, command: Command) => {
      await withKeeper(command, async (keeper) => {
        process.stdout.write(`${await keeper.accessToken(name)}\n`);
      });
    });
}
