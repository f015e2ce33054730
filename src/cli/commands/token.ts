import type { Command } from 'commander';
import { expiresInSeconds } from '../../core/expiry.ts';
import { DEFAULT_TOKEN_TIMEOUT_MS, type AccessTokenDetails } from '../../keeper/keeper.ts';
import { withKeeper } from '../context.ts';
import { printJson } from '../output.ts';
import { secondsOption } from '../seconds-option.ts';

interface TokenOptions {
  json?: boolean;
  minValid: string;
  timeout: string;
}

export function registerToken(program: Command): void {
  program
    .command('token')
    .description(
      'print a valid access token, for: curl -H "Authorization: Bearer $(tokenkeeper token me)". A usable stored token is printed at once (a due renewal runs after, bounded); an expired one is refreshed first',
    )
    .argument('<name>', 'connection name')
    .option('--json', 'print JSON: token, type, expiresAt (ISO 8601), expiresIn (seconds), scope')
    .option('--min-valid <seconds>', 'refresh first if the token would expire within this many seconds', '0')
    .option(
      '--timeout <seconds>',
      'total deadline of a refresh needed first (lock wait, requests, retries)',
      String(DEFAULT_TOKEN_TIMEOUT_MS / 1000),
    )
    .action(async (name: string, options: TokenOptions, command: Command) => {
      const minValidMs = secondsOption(options.minValid, '--min-valid') * 1000;
      const timeoutMs = secondsOption(options.timeout, '--timeout', { positive: true }) * 1000;
      await withKeeper(command, async (keeper) => {
        const token = await keeper.accessTokenDetails(name, { minValidMs, timeoutMs });
        if (options.json) printJson(accessTokenJson(token, keeper.now()));
        else process.stdout.write(`${token.accessToken}\n`);
      });
    });
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
