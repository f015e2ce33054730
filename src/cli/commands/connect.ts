import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { platform } from 'node:os';
import { TokenkeeperError } from '../../core/errors.ts';
import {
  DEFAULT_CALLBACK_PORT,
  DEFAULT_CONNECT_TIMEOUT_SECONDS,
  loopbackRedirectUri,
  resolveConnectSettings,
} from '../../config/connect-settings.ts';
import { resolveSecretRef } from '../../config/secret-ref.ts';
import type { ConnectionSummary, Keeper } from '../../keeper/keeper.ts';
import { connectAccount } from '../../flows/connect-flow.ts';
import { connectWithDevice, type DeviceAuthorization } from '../../flows/device-flow.ts';
import { withKeeper } from '../context.ts';
import { printJson } from '../output.ts';
import { secretArg } from '../secrets.ts';
import { readLine } from '../stdin.ts';
import { summaryJson } from '../../keeper/summary-json.ts';

interface ConnectCliOptions {
  name?: string;
  scope?: string[];
  clientId?: string;
  clientSecret?: string;
  port?: string;
  redirectUri?: string;
  browser: boolean;
  paste?: boolean;
  device?: boolean;
  timeout?: string;
  force?: boolean;
  json?: boolean;
}

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .description(
      "connect an account: opens the provider's consent page and saves the tokens (authorization code + PKCE)",
    )
    .argument('<provider>', 'provider id (fitbit, google-health, or one from your config)')
    .option('--name <name>', 'connection name (default: the provider id)')
    .option(
      '--scope <scope...>',
      "scopes to ask for (default: the provider's defaults or providers.<id>.scopes)",
    )
    .option('--client-id <id>', 'OAuth client id (default: providers.<id>.clientId)')
    .option(
      '--client-secret <ref>',
      'client secret as env:NAME, file:PATH or - (default: providers.<id>.clientSecret)',
    )
    .option(
      '--port <port>',
      `port of the local callback server on 127.0.0.1, 0 for any free one (default: connect.port or ${DEFAULT_CALLBACK_PORT})`,
    )
    .option(
      '--redirect-uri <uri>',
      'redirect URI registered with the app (default http://127.0.0.1:<port>/callback)',
    )
    .option('--no-browser', 'print the consent URL instead of opening a browser')
    .option('--paste', 'headless: print the URL, then paste the address the browser was redirected to')
    .option(
      '--device',
      'device authorization grant (RFC 8628): print a code to enter on another device; no redirect URI needed',
    )
    .option(
      '--timeout <seconds>',
      `how long to wait for the consent (default: connect.timeoutSeconds or ${DEFAULT_CONNECT_TIMEOUT_SECONDS})`,
    )
    .option(
      '--force',
      'when the name is already connected to another account of the provider, switch it to the new account',
    )
    .option('--json', 'print JSON')
    .action(async (providerId: string, options: ConnectCliOptions, command: Command) => {
      // Flags are checked before anything is opened: bad input changes nothing.
      const flags = { port: portFlag(options.port), timeoutSeconds: timeoutFlag(options.timeout) };
      await withKeeper(
        command,
        async (keeper) => {
          const { port, timeoutSeconds } = resolveConnectSettings(keeper.loaded.config, flags);
          const provider = keeper.providers.get(providerId);
          const configured = keeper.providers.clientSettings(providerId);
          const clientId = options.clientId ?? configured.clientId;
          if (!clientId) {
            throw new TokenkeeperError(
              'usage',
              `no client id: pass --client-id or set providers.${providerId}.clientId in the config`,
            );
          }
          const clientSecret = options.clientSecret
            ? await secretArg(options.clientSecret, 'client secret')
            : configured.clientSecretRef
              ? resolveSecretRef(configured.clientSecretRef, `providers.${providerId}.clientSecret`)
              : undefined;
          if (options.device) {
            const summary = await connectWithDevice(keeper, {
              provider: provider.id,
              name: options.name ?? provider.id,
              clientId,
              clientSecret,
              scopes: options.scope ?? provider.defaultScopes,
              presentUserCode: presentDeviceCode,
              signal: AbortSignal.timeout(timeoutSeconds * 1000),
              allowAccountChange: options.force,
            });
            return reportConnected(keeper, summary, provider.displayName, options.json);
          }
          const redirectUri = options.redirectUri ?? configured.redirectUri ?? loopbackRedirectUri(port);
          const summary = await connectAccount(keeper, {
            provider: provider.id,
            name: options.name ?? provider.id,
            clientId,
            clientSecret,
            scopes: options.scope ?? provider.defaultScopes,
            redirectUri,
            timeoutMs: timeoutSeconds * 1000,
            allowAccountChange: options.force,
            presentAuthorizationUrl: async (url, request) => {
              if (request.redirectUri !== redirectUri) {
                process.stderr.write(
                  `Port 0 picked the free port ${new URL(request.redirectUri).port}. This works with providers that accept any loopback port (RFC 8252 §7.3); a provider that accepts only the redirect URI registered with the app will refuse it: use a fixed --port (or connect.port) that matches the registered URI.\n`,
                );
              }
              process.stderr.write(
                `Open this URL to authorise tokenkeeper (redirect URI ${request.redirectUri}):\n\n  ${url}\n\n`,
              );
              if (options.browser && !options.paste) openBrowser(url);
              if (!options.paste)
                process.stderr.write(`Waiting up to ${timeoutSeconds} s for the consent…\n`);
            },
            readPastedRedirect: options.paste
              ? () => readLine('After approving, paste the full URL the browser was redirected to:\n')
              : undefined,
          });
          return reportConnected(keeper, summary, provider.displayName, options.json);
        },
        'info',
      );
    });
}

function portFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TokenkeeperError(
      'usage',
      `--port must be a port number from 0 (any free port) to 65535, got "${value}"`,
    );
  }
  return port;
}

function timeoutFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new TokenkeeperError('usage', `--timeout must be a positive number of seconds, got "${value}"`);
  }
  return seconds;
}

async function reportConnected(
  keeper: Keeper,
  summary: ConnectionSummary,
  providerName: string,
  json: boolean | undefined,
): Promise<void> {
  await warnOfSharedAccount(keeper, summary);
  if (json) return printJson(summaryJson(summary));
  process.stdout.write(
    `${summary.name}: connected to ${providerName}${summary.account ? ` (account ${summary.account})` : ''}\n`,
  );
}

/**
 * Two names on one provider account are two grants of the same app: providers commonly keep only the newest
 * (or a few), so the older connection may stop refreshing without warning.
 */
async function warnOfSharedAccount(keeper: Keeper, summary: ConnectionSummary): Promise<void> {
  if (!summary.account) return;
  const others = (await keeper.status())
    .filter(
      (other) =>
        other.name !== summary.name &&
        other.provider === summary.provider &&
        other.account === summary.account,
    )
    .map((other) => `"${other.name}"`);
  if (others.length === 0) return;
  process.stderr.write(
    `tokenkeeper: warning: "${summary.name}" and ${others.join(', ')} are the same ${summary.provider} account ${summary.account}: the provider may revoke the older grant, so ${others.join(', ')} may stop refreshing (needs_reauth); keep one connection per account (tokenkeeper remove <name>)\n`,
  );
}

function presentDeviceCode(device: DeviceAuthorization): void {
  const minutes = Math.round(device.expiresInSeconds / 60);
  process.stderr.write(
    `To authorise tokenkeeper, open ${device.verificationUri} on any device and enter the code:\n\n  ${device.userCode}\n\n` +
      (device.verificationUriComplete ? `(or open ${device.verificationUriComplete})\n` : '') +
      `Waiting for the sign-in (the code expires in ${minutes} min)…\n`,
  );
}

function openBrowser(url: string): void {
  const [command, args] =
    platform() === 'darwin'
      ? ['open', [url]]
      : platform() === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command as string, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write('Could not open a browser; open the URL above yourself.\n'));
    child.unref();
  } catch {
    process.stderr.write('Could not open a browser; open the URL above yourself.\n');
  }
}
