import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { platform } from 'node:os';
import { loopbackRedirectUri } from '../../config/connect-settings.ts';
import { configDefaults } from '../../config/defaults.ts';
import { TokenkeeperError } from '../../core/errors.ts';
import {
  connectAccount,
  replaceAccount,
  type ConnectOptions as BrowserConsent,
} from '../../flows/connect-flow.ts';
import { connectWithDevice, replaceWithDevice, type DeviceAuthorization } from '../../flows/device-flow.ts';
import {
  assertReplaceable,
  type ConnectionSummary,
  type Keeper,
  type ReplacedConnection,
} from '../../keeper/keeper.ts';
import { summaryJson } from '../../keeper/summary-json.ts';
import { resolveClientCredentials, type ClientCredentialFlags } from '../client-credentials.ts';
import { commandAction, withKeeper } from '../context.ts';
import type { CliIo } from '../io.ts';
import { optionalSeconds, portOption } from '../option-values.ts';
import { printJson } from '../output.ts';
import { readLine } from '../stdin.ts';

export interface ConnectOptions extends Omit<ClientCredentialFlags, 'basicCredentials'> {
  provider: string;
  /** Connection name; default: the provider id. */
  name?: string;
  scope?: string[];
  /** Port of the callback server (over connect.port). */
  port?: number;
  redirectUri?: string;
  /** Open a browser with the consent URL. */
  browser: boolean;
  /** Headless: read the redirected URL from stdin instead of running the callback server. */
  paste: boolean;
  /** The device authorization grant (RFC 8628). */
  device: boolean;
  /** How long to wait for the consent (over connect.timeoutSeconds). */
  timeoutSeconds?: number;
  /** Switch the name to another account of the provider. */
  force: boolean;
  /** Move this existing connection (at another provider, e.g. a retired one) to the consent's new grant. */
  replace?: string;
  json: boolean;
}

interface ConnectFlags {
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
  replace?: string;
  json?: boolean;
}

/** The options of `connect`, checked before anything is opened: bad input changes nothing. */
export function connectOptions(provider: string, flags: ConnectFlags): ConnectOptions {
  const port = flags.port === undefined ? undefined : portOption(flags.port, '--port');
  const timeoutSeconds = optionalSeconds(flags.timeout, '--timeout', { positive: true });
  if (flags.replace !== undefined) {
    if (flags.name !== undefined) {
      throw new TokenkeeperError('usage', '--replace <name> names the connection: leave out --name');
    }
    if (flags.force) {
      throw new TokenkeeperError(
        'usage',
        '--force switches a connection to another account of the same provider; --replace moves it to another provider, where accounts are not compared: leave out --force',
      );
    }
  }
  return {
    provider,
    ...(flags.name !== undefined && { name: flags.name }),
    ...(flags.scope && { scope: flags.scope }),
    ...(flags.clientId !== undefined && { clientId: flags.clientId }),
    ...(flags.clientSecret !== undefined && { clientSecret: flags.clientSecret }),
    ...(port !== undefined && { port }),
    ...(flags.redirectUri !== undefined && { redirectUri: flags.redirectUri }),
    ...(timeoutSeconds !== undefined && { timeoutSeconds }),
    browser: flags.browser,
    paste: flags.paste ?? false,
    device: flags.device ?? false,
    force: flags.force ?? false,
    ...(flags.replace !== undefined && { replace: flags.replace }),
    json: flags.json ?? false,
  };
}

export async function runConnect(options: ConnectOptions, io: CliIo): Promise<void> {
  const flags = { connect: { port: options.port, timeoutSeconds: options.timeoutSeconds } };
  await withKeeper(
    io,
    async (keeper, { settings }) => {
      const { port, timeoutSeconds } = settings.connect;
      const provider = keeper.providers.get(options.provider);
      const configured = keeper.providers.clientSettings(options.provider);
      // Checked before anything is read or asked, and again under the lock when the new tokens are saved.
      if (options.replace !== undefined) await announceReplacement(keeper, options.replace, provider.id, io);
      const { clientId, clientSecret } = await resolveClientCredentials(
        keeper.providers,
        options.provider,
        options,
        io,
      );
      const consent = {
        provider: provider.id,
        name: options.replace ?? options.name ?? provider.id,
        clientId,
        clientSecret,
        scopes: options.scope ?? provider.defaultScopes,
      };
      if (options.device) {
        const device = {
          ...consent,
          presentUserCode: (code: DeviceAuthorization) => presentDeviceCode(code, io),
          signal: AbortSignal.timeout(timeoutSeconds * 1000),
        };
        if (options.replace !== undefined) {
          const replaced = await replaceWithDevice(keeper, device);
          return reportReplaced(keeper, replaced, provider.displayName, options.json, io);
        }
        const summary = await connectWithDevice(keeper, { ...device, allowAccountChange: options.force });
        return reportConnected(keeper, summary, provider.displayName, options.json, io);
      }
      const redirectUri = options.redirectUri ?? configured.redirectUri ?? loopbackRedirectUri(port);
      const browserConsent: Omit<BrowserConsent, 'allowAccountChange'> = {
        ...consent,
        redirectUri,
        timeoutMs: timeoutSeconds * 1000,
        presentAuthorizationUrl: async (url, request) => {
          if (request.redirectUri !== redirectUri) {
            io.stderr.write(
              `Port 0 picked the free port ${new URL(request.redirectUri).port}. This works with providers that accept any loopback port (RFC 8252 §7.3); a provider that accepts only the redirect URI registered with the app will refuse it: use a fixed --port (or connect.port) that matches the registered URI.\n`,
            );
          }
          io.stderr.write(
            `Open this URL to authorise tokenkeeper (redirect URI ${request.redirectUri}):\n\n  ${url}\n\n`,
          );
          if (options.browser && !options.paste) openBrowser(url, io);
          if (!options.paste) io.stderr.write(`Waiting up to ${timeoutSeconds} s for the consent…\n`);
        },
        readPastedRedirect: options.paste
          ? () => readLine('After approving, paste the full URL the browser was redirected to:\n', io)
          : undefined,
      };
      if (options.replace !== undefined) {
        const replaced = await replaceAccount(keeper, browserConsent);
        return reportReplaced(keeper, replaced, provider.displayName, options.json, io);
      }
      const summary = await connectAccount(keeper, { ...browserConsent, allowAccountChange: options.force });
      return reportConnected(keeper, summary, provider.displayName, options.json, io);
    },
    'info',
    flags,
  );
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
      `port of the local callback server on 127.0.0.1, 0 for any free one (default: connect.port or ${configDefaults.connect.port})`,
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
      `how long to wait for the consent (default: connect.timeoutSeconds or ${configDefaults.connect.timeoutSeconds})`,
    )
    .option(
      '--force',
      'when the name is already connected to another account of the provider, switch it to the new account',
    )
    .option(
      '--replace <name>',
      'move the existing connection <name> to this provider (e.g. from a retired one): after the consent, the name (and API keys scoped to it) points at the new grant and the old grant is revoked; a failed consent changes nothing',
    )
    .option('--json', 'print JSON')
    .action(commandAction(connectOptions, runConnect));
}

async function reportConnected(
  keeper: Keeper,
  summary: ConnectionSummary,
  providerName: string,
  json: boolean,
  io: CliIo,
): Promise<void> {
  await warnOfSharedAccount(keeper, summary, io);
  if (json) return printJson(io, summaryJson(summary));
  io.stdout.write(
    `${summary.name}: connected to ${providerName}${summary.account ? ` (account ${summary.account})` : ''}\n`,
  );
}

/** Refuses a replacement that cannot be made before the consent runs, and says what will happen. */
async function announceReplacement(keeper: Keeper, name: string, provider: string, io: CliIo): Promise<void> {
  const existing = await keeper.get(name);
  if (!existing) {
    throw new TokenkeeperError(
      'usage',
      `no connection named "${name}" to replace: see \`tokenkeeper status\` for the names, or connect without --replace`,
    );
  }
  assertReplaceable(existing, provider);
  io.stderr.write(
    `Replacing "${name}" (${existing.provider}, ${existing.status}) with a connection at ${provider}: nothing changes until the consent succeeds.\n`,
  );
}

async function reportReplaced(
  keeper: Keeper,
  replaced: ReplacedConnection,
  providerName: string,
  json: boolean,
  io: CliIo,
): Promise<void> {
  const { summary, previousProvider, revoked, revokeError } = replaced;
  await warnOfSharedAccount(keeper, summary, io);
  if (!revoked) {
    io.stderr.write(
      `tokenkeeper: warning: the old ${previousProvider} grant of "${summary.name}" was not revoked (${revokeError ?? 'unknown reason'}); the connection was replaced all the same. If ${previousProvider} still serves it, remove the app's access in the account's ${previousProvider} settings\n`,
    );
  }
  if (json) return printJson(io, { ...summaryJson(summary), replaced: { previousProvider, revoked } });
  io.stdout.write(
    `${summary.name}: replaced ${previousProvider} with ${providerName}${summary.account ? ` (account ${summary.account})` : ''}; the old grant was ${revoked ? 'revoked' : 'not revoked'}\n`,
  );
}

/**
 * Two names on one provider account are two grants of the same app: providers commonly keep only the newest
 * (or a few), so the older connection may stop refreshing without warning.
 */
async function warnOfSharedAccount(keeper: Keeper, summary: ConnectionSummary, io: CliIo): Promise<void> {
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
  io.stderr.write(
    `tokenkeeper: warning: "${summary.name}" and ${others.join(', ')} are the same ${summary.provider} account ${summary.account}: the provider may revoke the older grant, so ${others.join(', ')} may stop refreshing (needs_reauth); keep one connection per account (tokenkeeper remove <name>)\n`,
  );
}

function presentDeviceCode(device: DeviceAuthorization, io: CliIo): void {
  const minutes = Math.round(device.expiresInSeconds / 60);
  io.stderr.write(
    `To authorise tokenkeeper, open ${device.verificationUri} on any device and enter the code:\n\n  ${device.userCode}\n\n` +
      (device.verificationUriComplete ? `(or open ${device.verificationUriComplete})\n` : '') +
      `Waiting for the sign-in (the code expires in ${minutes} min)…\n`,
  );
}

function openBrowser(url: string, io: CliIo): void {
  const [command, args] =
    platform() === 'darwin'
      ? ['open', [url]]
      : platform() === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command as string, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => io.stderr.write('Could not open a browser; open the URL above yourself.\n'));
    child.unref();
  } catch {
    io.stderr.write('Could not open a browser; open the URL above yourself.\n');
  }
}
