import type { Command } from 'commander';
import { isTokenkeeperError, TokenkeeperError, type ErrorCode } from '../../core/errors.ts';
import { resolveSecretRef } from '../../config/secret-ref.ts';
import type { ConnectionSummary, Keeper } from '../../keeper/keeper.ts';
import { withKeeper } from '../context.ts';
import { describeCliError, formatDuration, printJson } from '../output.ts';
import { assertOneStdinSecret, decodeBasicCredentials, secretArg } from '../secrets.ts';
import { summaryJson } from '../../keeper/summary-json.ts';

interface AddOptions {
  provider: string;
  clientId?: string;
  clientSecret?: string;
  basicCredentials?: string;
  refreshToken: string;
  clientCredentials?: boolean;
  scope?: string[];
  verify: boolean;
  json?: boolean;
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
    .option('--refresh-token <ref>', 'refresh token as env:NAME, file:PATH or - (stdin)', '-')
    .option(
      '--client-credentials',
      'a client-credentials connection (RFC 6749 §4.4): no refresh token, renewed by asking again with the client secret',
    )
    .option('--scope <scope...>', 'scopes to request (client credentials only)')
    .option('--no-verify', 'do not refresh once right away to prove the token works')
    .option('--json', 'print JSON')
    .action(async (name: string, options: AddOptions, command: Command) => {
      if (options.clientCredentials && command.getOptionValueSource('refreshToken') === 'cli') {
        throw new TokenkeeperError(
          'usage',
          '--client-credentials connections have no refresh token: drop --refresh-token',
        );
      }
      if (options.scope && !options.clientCredentials) {
        throw new TokenkeeperError(
          'usage',
          '--scope applies to --client-credentials only (an imported refresh token keeps its own scopes)',
        );
      }
      assertOneStdinSecret([
        options.clientSecret,
        options.basicCredentials,
        options.clientCredentials ? undefined : options.refreshToken,
      ]);
      // add reports every outcome of its verifying refresh itself, in one line: the engine's log lines about that
      // refresh would print the same error again (--log-level shows them).
      await withKeeper(
        command,
        async (keeper) => {
          keeper.providers.get(options.provider);
          const configured = keeper.providers.clientSettings(options.provider);
          let clientId = options.clientId ?? configured.clientId;
          let clientSecret: string | undefined;
          if (options.basicCredentials) {
            const decoded = decodeBasicCredentials(
              await secretArg(options.basicCredentials, 'Basic client credentials'),
            );
            clientId = decoded.clientId;
            clientSecret = decoded.clientSecret;
          } else if (options.clientSecret) {
            clientSecret = await secretArg(options.clientSecret, 'client secret');
          } else if (configured.clientSecretRef) {
            clientSecret = resolveSecretRef(
              configured.clientSecretRef,
              `providers.${options.provider}.clientSecret`,
            );
          }
          if (!clientId) {
            throw new TokenkeeperError(
              'usage',
              `no client id: pass --client-id or set providers.${options.provider}.clientId in the config`,
            );
          }
          if (options.clientCredentials) {
            await addClientCredentials(keeper, name, options, clientId, clientSecret);
            return;
          }
          const refreshToken = await secretArg(options.refreshToken, 'refresh token');
          await keeper.addConnection({
            name,
            provider: options.provider,
            clientId,
            clientSecret,
            tokens: { refreshToken },
          });
          await verifyNewConnection(keeper, name, options, {
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
    });
}

/** `add --client-credentials`: save the connection, then get its first access token (unless --no-verify). */
async function addClientCredentials(
  keeper: Keeper,
  name: string,
  options: AddOptions,
  clientId: string,
  clientSecret: string | undefined,
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
    name,
    provider: provider.id,
    clientId,
    clientSecret,
    grant: 'client_credentials',
    tokens: scopes.length > 0 ? { scope: scopes.join(provider.scopeSeparator) } : {},
  });
  await verifyNewConnection(keeper, name, options, {
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
  name: string,
  options: Pick<AddOptions, 'verify' | 'json'>,
  texts: {
    unverified: string;
    verified: (summary: ConnectionSummary, left: string) => string;
    rejectedCodes: ErrorCode[];
    laterFailure: string;
  },
): Promise<void> {
  if (!options.verify) {
    const summary = await keeper.get(name);
    if (options.json) printJson(summary && summaryJson(summary));
    else process.stdout.write(`${name}: ${texts.unverified}\n`);
    return;
  }
  try {
    const summary = await keeper.refresh(name, { force: true });
    if (options.json) return printJson(summaryJson(summary));
    const left = summary.expiresAt === undefined ? '?' : formatDuration(summary.expiresAt - Date.now());
    process.stdout.write(`${name}: ${texts.verified(summary, left)}\n`);
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
