import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { platform } from 'node:os';
import { TokenkeeperError } from '../../core/errors.ts';
import { resolveSecretRef } from '../../config/secret-ref.ts';
import { connectAccount } from '../../oauth/connect-flow.ts';
import { connectWithDevice, type DeviceAuthorization } from '../../oauth/device-flow.ts';
import { withKeeper } from '../context.ts';
import { printJson } from '../output.ts';
import { secretArg } from '../secrets.ts';
import { readLine } from '../stdin.ts';
import { summaryJson } from './summary-json.ts';

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
  timeout: string;
  json?: boolean;
}

const DEFAULT_PORT = 8976;

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
    .option('--port <port>', `port of the local callback server on 127.0.0.1 (default ${DEFAULT_PORT})`)
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
    .option('--timeout <seconds>', 'how long to wait for the consent', '300')
    .option('--json', 'print JSON')
    .action(async (providerId: string, options: ConnectCliOptions, command: Command) => {
      const timeoutSeconds = Number(options.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
        throw new TokenkeeperError(
          'usage',
          `--timeout must be a positive number of seconds, got "${options.timeout}"`,
        );
      }
      await withKeeper(
        command,
        async (keeper) => {
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
            });
            if (options.json) return printJson(summaryJson(summary));
            process.stdout.write(
              `${summary.name}: connected to ${provider.displayName}${summary.account ? ` (account ${summary.account})` : ''}\n`,
            );
            return;
          }
          const port =
            options.port === undefined
              ? (keeper.loaded.config.connect?.port ?? DEFAULT_PORT)
              : Number(options.port);
          if (!Number.isInteger(port) || port < 1 || port > 65535) {
            throw new TokenkeeperError('usage', `--port must be a port number, got "${options.port}"`);
          }
          const redirectUri =
            options.redirectUri ?? configured.redirectUri ?? `http://127.0.0.1:${port}/callback`;
          const summary = await connectAccount(keeper, {
            provider: provider.id,
            name: options.name ?? provider.id,
            clientId,
            clientSecret,
            scopes: options.scope ?? provider.defaultScopes,
            redirectUri,
            timeoutMs: timeoutSeconds * 1000,
            presentAuthorizationUrl: async (url) => {
              process.stderr.write(
                `Open this URL to authorise tokenkeeper (redirect URI ${redirectUri}):\n\n  ${url}\n\n`,
              );
              if (options.browser && !options.paste) openBrowser(url);
              if (!options.paste)
                process.stderr.write(`Waiting up to ${timeoutSeconds} s for the consent…\n`);
            },
            readPastedRedirect: options.paste
              ? () => readLine('After approving, paste the full URL the browser was redirected to:\n')
              : undefined,
          });
          if (options.json) return printJson(summaryJson(summary));
          process.stdout.write(
            `${summary.name}: connected to ${provider.displayName}${summary.account ? ` (account ${summary.account})` : ''}\n`,
          );
        },
        'info',
      );
    });
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
