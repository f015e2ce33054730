import type { Command } from 'commander';
import { expiresInSeconds } from '../../core/expiry.ts';
import { DEFAULT_TOKEN_TIMEOUT_MS, type AccessTokenDetails } from '../../keeper/keeper.ts';
import { commandAction, withKeeper } from '../context.ts';
import type { CliIo } from '../io.ts';
import { secondsOption, withDefault } from '../option-values.ts';
import { printJson } from '../output.ts';

export interface TokenOptions {
  name: string;
  json: boolean;
  /** Refresh first if the token would expire within this many seconds. */
  minValidSeconds: number;
  /** Total deadline of a refresh needed first. */
  timeoutSeconds: number;
}

interface TokenFlags {
  json?: boolean;
  minValid?: string;
  timeout?: string;
}

export const tokenDefaults = { minValidSeconds: 0, timeoutSeconds: DEFAULT_TOKEN_TIMEOUT_MS / 1000 };

export function tokenOptions(name: string, flags: TokenFlags): TokenOptions {
  return {
    name,
    json: flags.json ?? false,
    minValidSeconds:
      flags.minValid === undefined
        ? tokenDefaults.minValidSeconds
        : secondsOption(flags.minValid, '--min-valid'),
    timeoutSeconds:
      flags.timeout === undefined
        ? tokenDefaults.timeoutSeconds
        : secondsOption(flags.timeout, '--timeout', { positive: true }),
  };
}

export async function runToken(options: TokenOptions, io: CliIo): Promise<void> {
  await withKeeper(io, async (keeper) => {
    const token = await keeper.accessTokenDetails(options.name, {
      minValidMs: options.minValidSeconds * 1000,
      timeoutMs: options.timeoutSeconds * 1000,
    });
    if (options.json) printJson(io, accessTokenJson(token, keeper.now()));
    else io.stdout.write(`${token.accessToken}\n`);
  });
}

export function registerToken(program: Command): void {
  program
    .command('token')
    .description(
      'print a valid access token, for: curl -H "Authorization: Bearer $(tokenkeeper token me)". A usable stored token is printed at once (a due renewal runs after, bounded); an expired one is refreshed first',
    )
    .argument('<name>', 'connection name')
    .option('--json', 'print JSON: token, type, expiresAt (ISO 8601), expiresIn (seconds), scope')
    .option(
      '--min-valid <seconds>',
      withDefault(
        'refresh first if the token would expire within this many seconds',
        tokenDefaults.minValidSeconds,
      ),
    )
    .option(
      '--timeout <seconds>',
      withDefault(
        'total deadline of a refresh needed first (lock wait, requests, retries)',
        tokenDefaults.timeoutSeconds,
      ),
    )
    .action(commandAction(tokenOptions, runToken));
}

/** `token --json`: the token the user asked for, and what is known about it. */
export function accessTokenJson(token: AccessTokenDetails, now: number) {
  return {
    token: token.accessToken,
    type: token.tokenType ?? 'Bearer',
    expiresAt: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
    expiresIn: expiresInSeconds(token.expiresAt, now) ?? null,
    scope: token.scope ?? null,
  };
}
