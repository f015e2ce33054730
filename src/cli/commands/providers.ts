import type { Command } from 'commander';
import { DAY_MS } from '../../core/duration.ts';
import { TokenkeeperError } from '../../core/errors.ts';
import { builtInProviders } from '../../providers/catalog.ts';
import { createProviderRegistry, type ProviderRegistry } from '../../providers/registry.ts';
import type { ProviderDefinition, RotationRule } from '../../providers/types.ts';
import { loopbackRedirectUri } from '../../config/connect-settings.ts';
import { commandAction, settingsOf } from '../context.ts';
import type { CliIo } from '../io.ts';
import { printJson } from '../output.ts';

const rotationText: Record<RotationRule, string> = {
  'single-use': 'single-use (each refresh returns a new one)',
  'reuse-revokes-family': 'single-use; reusing an old one revokes the grant',
  'rotate-keep-old': 'rotating (each refresh returns a new one; the old one keeps working)',
  reusable: 'reusable (refreshes return none)',
  'may-rotate': 'may rotate (the newest is always kept)',
};

export interface ProvidersOptions {
  /** Only this provider; all when undefined. */
  id?: string;
  json: boolean;
}

export function runProviders(options: ProvidersOptions, io: CliIo): void {
  const settings = settingsOf(io);
  const registry = createProviderRegistry(settings.config.providers);
  const { id } = options;
  const providers = id ? [findProvider(registry, id)] : registry.list();
  const views = providers.map((provider) => providerView(provider, registry, settings.connect.port));
  if (options.json) return printJson(io, id ? views[0] : views);
  io.stdout.write(`${views.map(formatView).join('\n\n')}\n`);
}

export function registerProviders(program: Command): void {
  program
    .command('providers')
    .description(
      'list the providers you can connect (built in and from your config), with docs links and the app settings they need',
    )
    .argument('[id]', 'show one provider')
    .option('--json', 'print JSON')
    .action(
      commandAction(
        (id: string | undefined, flags: { json?: boolean }) => ({ id, json: flags.json ?? false }),
        runProviders,
      ),
    );
}

function findProvider(registry: ProviderRegistry, id: string): ProviderDefinition {
  const provider = registry.list().find((candidate) => candidate.id === id);
  if (!provider) {
    throw new TokenkeeperError(
      'not_found',
      `unknown provider "${id}": run \`tokenkeeper providers\` for the list, or define it in the config with "extends": "oauth2"`,
    );
  }
  return provider;
}

/** What a user needs to register an app and connect: no secrets, only whether they are configured. */
function providerView(provider: ProviderDefinition, registry: ProviderRegistry, port: number) {
  const client = registry.clientSettings(provider.id);
  return {
    id: provider.id,
    displayName: provider.displayName,
    builtIn: builtInProviders.some((builtIn) => builtIn.id === provider.id),
    docsUrl: provider.docsUrl ?? null,
    grants: provider.grants ?? ['authorization_code'],
    appSettings: {
      // Port 0 takes any free port per connect: the URI to register then names none.
      redirectUri:
        client.redirectUri ??
        (port === 0 ? 'http://127.0.0.1/callback (any port)' : loopbackRedirectUri(port)),
      scopes: provider.defaultScopes,
      scopeSeparator: provider.scopeSeparator,
      clientIdConfigured: client.clientId !== undefined,
      clientSecretConfigured: client.clientSecretRef !== undefined,
    },
    clientAuth: provider.clientAuth,
    pkce: provider.pkce,
    refreshTokens: provider.rotation,
    refreshTokenLifetime: provider.refreshTokenLifetime
      ? {
          days: provider.refreshTokenLifetime.ms / DAY_MS,
          renewedByUse: provider.refreshTokenLifetime.renewedByUse,
          fromConsent: provider.refreshTokenLifetime.fromConsent ?? false,
        }
      : null,
    keepAliveDays: provider.keepAliveMs === undefined ? null : provider.keepAliveMs / DAY_MS,
    endpoints: {
      authorization: provider.authorizationUrl ?? null,
      token: provider.tokenUrl || null,
      revocation: provider.revokeUrl ?? null,
      deviceAuthorization: provider.deviceAuthorizationUrl ?? null,
    },
    notes: provider.setupNotes ?? null,
  };
}

type ProviderView = ReturnType<typeof providerView>;

function formatView(view: ProviderView): string {
  const { appSettings: app } = view;
  const lines: Array<[string, string | null]> = [
    ['docs', view.docsUrl],
    ['redirect URI', app.redirectUri],
    ['scopes', app.scopes.length > 0 ? app.scopes.join(app.scopeSeparator) : '(none by default)'],
    ['grants', view.grants.join(', ')],
    [
      'client auth',
      `${view.clientAuth === 'basic' ? 'HTTP Basic' : 'id and secret in the body'}${view.pkce ? ', PKCE' : ''}`,
    ],
    ['refresh', `refresh tokens ${rotationText[view.refreshTokens]}`],
    ['lifetime', lifetimeText(view)],
    ['token URL', view.endpoints.token ?? '(set providers.<id>.tokenUrl in the config)'],
    ['client id', app.clientIdConfigured ? 'configured' : 'not configured (pass --client-id)'],
    ['notes', view.notes],
  ];
  const body = lines
    .filter((line): line is [string, string] => line[1] !== null)
    .map(([label, value]) => `  ${`${label}:`.padEnd(14)}${value}`);
  return [`${view.id} — ${view.displayName}${view.builtIn ? '' : ' (from your config)'}`, ...body].join('\n');
}

/** "180 days unused (each refresh renews it); refreshed at least every 30 days". */
function lifetimeText(view: ProviderView): string {
  const lifetime = view.refreshTokenLifetime;
  const rule = !lifetime
    ? 'refresh tokens: no time limit known'
    : `refresh tokens live ${lifetime.days} days ${
        lifetime.renewedByUse
          ? 'unused (each refresh renews them)'
          : lifetime.fromConsent
            ? 'from consent (refreshes do not renew them)'
            : 'from issue'
      }`;
  return view.keepAliveDays === null ? rule : `${rule}; refreshed at least every ${view.keepAliveDays} days`;
}
