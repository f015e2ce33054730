#!/usr/bin/env node
import { CommanderError } from 'commander';
import { describeError, exitCodes, TokenkeeperError } from '../core/errors.ts';
import { formatCliError } from './colour.ts';
import { buildProgram, commandNamed } from './program.ts';

export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(commandNamed(argv.slice(2)));
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : exitCodes.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    const code = error instanceof TokenkeeperError ? error.exitCode : exitCodes.failure;
    process.stderr.write(formatCliError(describeError(error), process.stderr));
    if (!(error instanceof TokenkeeperError) && process.env.TOKENKEEPER_LOG_LEVEL === 'debug') {
      process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    }
    return code;
  }
}

if (import.meta.main ?? /[/\\]cli[/\\]main\.[jt]s$/.test(process.argv[1] ?? '')) {
  process.exitCode = await main(process.argv);
}
