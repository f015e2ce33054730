import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/cli/command-table.ts';

describe('command table', () => {
  it.for(commandTable.map((entry) => [entry.name, entry] as const))(
    '%s: its module defines that command with the description --help lists',
    async ([name, entry]) => {
      const program = new Command('tokenkeeper');
      (await entry.load())(program);
      expect(program.commands.map((command) => command.name())).toEqual([name]);
      expect(program.commands[0]?.description()).toBe(entry.description);
    },
  );
});
