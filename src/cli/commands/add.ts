import type { Command } from 'commander';
import { isTokenkeeperError, TokenkeeperError, type ErrorCode } from '../../core/errors.ts';
import type { ConnectionSummary, Keeper } from '../../keeper/keeper.ts';
import { summaryJson } from '../../keeper/summary-json.ts';
import {
  resolveClientCredentials,
  type ClientCredentialFlags,
  type ClientCredentials,
} from '../client-credentials.ts';
import { commandAction, withKeeper } from '../context.ts';
import type { CliIo } from '../io.ts';
import { describeCliError, formatDuration, printJson } from '../output.ts';
import { assertOneStdinSecret, secretArg } from '../secrets.ts';

export const addDefaults = { refreshToken: '-' } as const;

export interface AddOptions extends ClientCredentialFlags {
  name: string;
  provider: string;
  /** The refresh token as a reference (env:NAME, file:PATH, - for stdin); absent for client credentials. */
  refreshToken?: string;
  clientCredentials: boolean;
  /** Scopes to request (client credentials only). */
  scope?: string[];
  /** Refresh once right away to prove the token works. */
  verify: boolean;
  json: boolean;
}

interface AddFlags extends ClientCredentialFlags {
  provider: string;
  refreshToken?: string;
  clientCredentials?: boolean;
  scope?: string[];
  verify: boolean;
  json?: boolean;
}

export function addOptions(name: string, flags: AddFlags): AddOptions {
  const clientCredentials = flags.clientCredentials ?? false;
  if (clientCredentials && flags.refreshToken !== undefined) {
    throw new TokenkeeperError(
      'usage',
      '--client-credentials connections have no refresh token: drop --refresh-token',
    );
  }
  if (flags.scope && !clientCredentials) {
    throw new TokenkeeperError(
      'usage',
      '--scope applies to --client-credentials only (an imported refresh token keeps its own scopes)',
    );
  }
  const refreshToken = clientCredentials ? undefined : (flags.refreshToken ?? addDefaults.refreshToken);
  assertOneStdinSecret([flags.clientSecret, flags.basicCredentials, refreshToken]);
  return {
    name,
    provider: flags.provider,
    ...(flags.clientId !== undefined && { clientId: flags.clientId }),
    ...(flags.clientSecret !== undefined && { clientSecret: flags.clientSecret }),
    ...(flags.basicCredentials !== undefined && { basicCredentials: flags.basicCredentials }),
    ...(refreshToken !== undefined && { refreshToken }),
    clientCredentials,
    ...(flags.scope && { scope: flags.scope }),
    verify: flags.verify,
    json: flags.json ?? false,
  };
}

export async function runAdd(options: AddOptions, io: CliIo): Promise<void> {
  const { name } = options;
  // add reports every outcome of its verifying refresh itself, in one line: the engine's log lines about that
  // refresh would print the same error again (--log-level shows them).
  await withKeeper(
    io,
    async (keeper) => {
      keeper.providers.get(options.provider);
      const client = await resolveClientCredentials(keeper.providers, options.provider, options, io);
      if (options.refreshToken === undefined) {
        await addClientCredentials(keeper, options, client, io);
        return;
      }
      const refreshToken = await secretArg(options.refreshToken, 'refresh token', io);
      await keeper.addConnection({
        name,
        provider: options.provider,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        tokens: { refreshToken },
      });
      await verifyNewConnection(keeper, options, io, {
        unverified: 'imported (not verified; the first refresh happens when a token is asked for)',
        verified: (summary, left) =>
          `imported and verified${summary.account ? ` (account ${summary.account})` : ''}; access token valid for ${left}\n` +
          'If another system (such as the old Azure Function) still refreshes this token, stop it now: only one refresher may hold a rotating refresh token.',
        rejectedCodes: ['needs_reauth', 'invalid_client'],
        laterFailure: 'imported, but the first refresh failed',
      });
    },
    'silent',
  );
}

export function registerAdd(program: Command): void {
  program
    .command('add')
    .description(
      "import an existing refresh token (e.g. from the old Azure Function's Key Vault) as a connection",
    )
    .argument('<name>', 'connection name')
    .requiredOption('--provider <id>', 'provider id (fitbit, google-health, or one from your config)')
    .option('--client-id <id>', 'OAuth client id (default: providers.<id>.clientId from the config)')
    .option('--client-secret <ref>', 'client secret as env:NAME, file:PATH or - (stdin)')
    .option(
      '--basic-credentials <ref>',
      'the seed\'s "FitbitCredentials" value, base64("id:secret"), as env:NAME, file:PATH or -',
    )
    .option(
      '--refresh-token <ref>',
      `refresh token as env:NAME, file:PATH or - (stdin) (default: "${addDefaults.refreshToken}")`,
    )
    .option(
      '--client-credentials',
      'a client-credentials connection (RFC 6749 §4.4): no refresh token, renewed by asking again with the client secret',
    )
    .option('--scope <scope...>', 'scopes to request (client credentials only)')
    .option('--no-verify', 'do not refresh once right away to prove the token works')
    .option('--json', 'print JSON')
    .action(commandAction(addOptions, runAdd));
}

/** `add --client-credentials`: save the connection, then get its first access token (unless --no-verify). */
async function addClientCredentials(
  keeper: Keeper,
  options: AddOptions,
  { clientId, clientSecret }: ClientCredentials,
  io: CliIo,
): Promise<void> {
  const provider = keeper.providers.get(options.provider);
  if (!(provider.grants ?? ['authorization_code']).includes('client_credentials')) {
    throw new TokenkeeperError(
      'usage',
      `provider ${provider.id} does not offer the client credentials grant: use connect or add with a refresh token`,
    );
  }
  if (clientSecret === undefined) {
    throw new TokenkeeperError(
      'usage',
      `client credentials need the client secret: pass --client-secret or set providers.${provider.id}.clientSecret`,
    );
  }
  const scopes = options.scope ?? [];
  await keeper.addConnection({
    name: options.name,
    provider: provider.id,
    clientId,
    clientSecret,
    grant: 'client_credentials',
    tokens: scopes.length > 0 ? { scope: scopes.join(provider.scopeSeparator) } : {},
  });
  await verifyNewConnection(keeper, options, io, {
    unverified: 'saved (the first access token is requested when one is asked for)',
    verified: (_summary, left) =>
      `client-credentials connection to ${provider.displayName} saved; access token valid for ${left}, renewed by asking again`,
    rejectedCodes: ['invalid_client', 'provider_rejected'],
    laterFailure: 'saved, but the first token request failed',
  });
}

/**
 * After a connection is saved: unless --no-verify, renew it once. A rejection the provider will repeat (bad token,
 * bad client) removes the connection again, so nothing half-working stays behind; a passing failure keeps it.
 */
async function verifyNewConnection(
  keeper: Keeper,
  options: Pick<AddOptions, 'name' | 'verify' | 'json'>,
  io: CliIo,
  texts: {
    unverified: string;
    verified: (summary: ConnectionSummary, left: string) => string;
    rejectedCodes: ErrorCode[];
    laterFailure: string;
  },
): Promise<void> {
  const { name } = options;
  if (!options.verify) {
    const summary = await keeper.get(name);
    if (options.json) printJson(io, summary && summaryJson(summary));
    else io.stdout.write(`${name}: ${texts.unverified}\n`);
    return;
  }
  try {
    const summary = await keeper.refresh(name, { force: true });
    if (options.json) return printJson(io, summaryJson(summary));
    const left = summary.expiresAt === undefined ? '?' : formatDuration(summary.expiresAt - Date.now());
    io.stdout.write(`${name}: ${texts.verified(summary, left)}\n`);
  } catch (error) {
    if (texts.rejectedCodes.some((code) => isTokenkeeperError(error, code))) {
      await keeper.remove(name);
      throw new TokenkeeperError(
        (error as TokenkeeperError).code,
        `${describeCliError(error)} — nothing was saved`,
      );
    }
    // The engine's message already says when and how the connection is tried again.
    throw new TokenkeeperError(
      isTokenkeeperError(error) ? error.code : 'provider_unavailable',
      `${name}: ${texts.laterFailure}: ${describeCliError(error)}`,
    );
  }
}
