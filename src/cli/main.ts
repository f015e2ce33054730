#!/usr/bin/env node
import { CommanderError } from 'commander';
import { exitCodes, TokenkeeperError } from '../core/errors.ts';
import { formatCliError } from './colour.ts';
import { describeCliError } from './output.ts';
import { buildProgram, commandNamed } from './program.ts';

/**
 * A reader that stops early (`tokenkeeper --help | head`) closes the pipe: like any Unix tool, the command then
 * ends quietly instead of dying on EPIPE with a stack trace.
 */
function endQuietlyWhenThePipeCloses(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : exitCodes.ok);
  });
}

export async function main(argv: string[]): Promise<number> {
  endQuietlyWhenThePipeCloses(process.stdout);
  endQuietlyWhenThePipeCloses(process.stderr);
  try {
    const program = await buildProgram(commandNamed(argv.slice(2)));
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : exitCodes.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    const code = error instanceof TokenkeeperError ? error.exitCode : exitCodes.failure;
    process.stderr.write(formatCliError(describeCliError(error), process.stderr));
    if (!(error instanceof TokenkeeperError) && process.env.TOKENKEEPER_LOG_LEVEL === 'debug') {
      process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    }
    return code;
  }
}

if (import.meta.main ?? /[/\\]cli[/\\]main\.[jt]s$/.test(process.argv[1] ?? '')) {
  process.exitCode = await main(process.argv);
}
