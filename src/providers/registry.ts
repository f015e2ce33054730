import { TokenkeeperError } from '../core/errors.ts';
import type { ProviderSettings } from '../config/schema.ts';
import { resolveSecretRef } from '../config/secret-ref.ts';
import { DAY_MS } from '../core/duration.ts';
import { checkEndpointUrl } from '../core/url-policy.ts';
import { builtInProviders } from './catalog.ts';
import { fillUrlParameters } from './url-parameters.ts';
import type { ProviderDefinition, RefreshTokenLifetime } from './types.ts';

/** Client credentials and redirect URI configured for a provider (secrets still as references). */
export interface ProviderClientSettings {
  clientId?: string;
  clientSecretRef?: string;
  redirectUri?: string;
}

export interface ProviderRegistry {
  get(id: string): ProviderDefinition;
  clientSettings(id: string): ProviderClientSettings;
  list(): ProviderDefinition[];
}

/**
 * The provider the catalog names as replacing `providerId` once it is retired (Fitbit: google-health); undefined
 * when it names none, or the provider is not configured. The one lookup behind every "move it to …" message.
 */
export function successorOf(registry: Pick<ProviderRegistry, 'get'>, providerId: string): string | undefined {
  try {
    return registry.get(providerId).successor;
  } catch {
    // A provider no longer configured: what replaces it is simply unknown.
    return undefined;
  }
}

/**
 * The client secret configured for a provider (providers.<id>.clientSecret), resolved from its reference;
 * undefined when none is configured.
 */
export function configuredClientSecret(
  registry: Pick<ProviderRegistry, 'clientSettings'>,
  providerId: string,
  env: NodeJS.ProcessEnv,
): string | undefined {
  const ref = registry.clientSettings(providerId).clientSecretRef;
  return ref === undefined ? undefined : resolveSecretRef(ref, `providers.${providerId}.clientSecret`, env);
}

/**
 * Built-in providers with config overrides applied, plus user-defined ones (`extends` a built-in, usually
 * `oauth2`). URL placeholders such as `{tenant}` are filled and every endpoint is checked here, so a bad URL is
 * reported when the config loads, not mid-refresh.
 */
export function createProviderRegistry(settings: Record<string, ProviderSettings> = {}): ProviderRegistry {
  const templates = new Map<string, ProviderDefinition>(
    builtInProviders.map((provider) => [provider.id, provider]),
  );
  const clients = new Map<string, ProviderClientSettings>();
  for (const [id, entry] of Object.entries(settings)) {
    const baseId = entry.extends ?? id;
    const base = templates.get(baseId) ?? builtInProviders.find((provider) => provider.id === baseId);
    if (!base) {
      throw new TokenkeeperError(
        'config',
        `providers.${id}: unknown provider "${baseId}"; add "extends": "oauth2" to define your own, or use one of ${builtInProviders.map((p) => p.id).join(', ')}`,
      );
    }
    templates.set(id, {
      ...base,
      id,
      displayName: entry.displayName ?? (entry.extends ? id : base.displayName),
      authorizationUrl: entry.authorizationUrl ?? base.authorizationUrl,
      tokenUrl: entry.tokenUrl ?? base.tokenUrl,
      revokeUrl: entry.revokeUrl ?? base.revokeUrl,
      deviceAuthorizationUrl: entry.deviceAuthorizationUrl ?? base.deviceAuthorizationUrl,
      apiBaseUrl: entry.apiBaseUrl ?? base.apiBaseUrl,
      clientAuth: entry.clientAuth ?? base.clientAuth,
      pkce: entry.pkce ?? base.pkce,
      scopeSeparator: entry.scopeSeparator ?? base.scopeSeparator,
      defaultScopes: entry.scopes ?? base.defaultScopes,
      extraAuthParams: { ...base.extraAuthParams, ...entry.extraAuthParams },
      extraTokenParams: { ...base.extraTokenParams, ...entry.extraTokenParams },
      urlParameters: {
        ...base.urlParameters,
        ...(entry.tenant === undefined ? {} : { tenant: entry.tenant }),
      },
      ...lifetimeOverrides(entry, base, `providers.${id}`),
    });
    clients.set(id, {
      clientId: entry.clientId,
      clientSecretRef: entry.clientSecret,
      redirectUri: entry.redirectUri,
    });
  }
  const definitions = new Map<string, ProviderDefinition>();
  for (const [id, template] of templates) {
    const where = settings[id] ? `providers.${id}` : `built-in provider ${id}`;
    const provider = fillUrlParameters(template, where);
    validateEndpoints(provider, where);
    definitions.set(id, provider);
  }
  return {
    get(id) {
      const provider = definitions.get(id);
      if (!provider) {
        throw new TokenkeeperError(
          'config',
          `unknown provider "${id}": use one of ${[...definitions.keys()].join(', ')}, or define it in the config under providers.${id} with "extends": "oauth2"`,
        );
      }
      if (!provider.tokenUrl) {
        throw new TokenkeeperError(
          'config',
          `provider "${id}" has no token URL: set providers.${id}.tokenUrl in the config`,
        );
      }
      return provider;
    },
    clientSettings: (id) => clients.get(id) ?? {},
    list: () => [...definitions.values()],
  };
}

type LifetimeFields = Pick<
  ProviderDefinition,
  'refreshTokenLifetime' | 'keepAliveMs' | 'defaultLifetimeMs' | 'expiringSoonMs' | 'clientSecretExpiresAt'
>;

/** The configured lifetimes and warning windows of a provider, over what its catalog entry says. */
function lifetimeOverrides(entry: ProviderSettings, base: ProviderDefinition, where: string): LifetimeFields {
  const fields: LifetimeFields = {
    refreshTokenLifetime: refreshTokenLifetime(entry, base, where),
  };
  if (entry.keepAliveDays !== undefined) fields.keepAliveMs = entry.keepAliveDays * DAY_MS;
  if (entry.defaultLifetimeSeconds !== undefined)
    fields.defaultLifetimeMs = entry.defaultLifetimeSeconds * 1000;
  if (entry.expiringSoonDays !== undefined) fields.expiringSoonMs = entry.expiringSoonDays * DAY_MS;
  if (entry.clientSecretExpiresAt !== undefined) {
    fields.clientSecretExpiresAt = Date.parse(entry.clientSecretExpiresAt);
  }
  return fields;
}

/**
 * publishingStatus "testing" picks the catalog's lifetime for apps in testing (Google's 7 days); an explicit
 * refreshTokenLifetimeDays (0: none) and refreshTokenRenewedByUse override either.
 */
function refreshTokenLifetime(
  entry: ProviderSettings,
  base: ProviderDefinition,
  where: string,
): RefreshTokenLifetime | undefined {
  let lifetime = base.refreshTokenLifetime;
  if (entry.publishingStatus === 'testing') {
    if (!base.testingRefreshTokenLifetime) {
      throw new TokenkeeperError(
        'config',
        `${where}.publishingStatus: provider ${base.id} has no "testing" publishing status (only Google-like providers do); remove the key, or set ${where}.refreshTokenLifetimeDays`,
      );
    }
    lifetime = base.testingRefreshTokenLifetime;
  }
  if (entry.refreshTokenLifetimeDays !== undefined) {
    if (entry.refreshTokenLifetimeDays === 0) return undefined;
    return {
      ...lifetime,
      ms: entry.refreshTokenLifetimeDays * DAY_MS,
      renewedByUse: entry.refreshTokenRenewedByUse ?? lifetime?.renewedByUse ?? false,
    };
  }
  if (entry.refreshTokenRenewedByUse !== undefined) {
    if (!lifetime) {
      throw new TokenkeeperError(
        'config',
        `${where}.refreshTokenRenewedByUse: provider ${base.id} knows no refresh-token lifetime to renew; set ${where}.refreshTokenLifetimeDays too`,
      );
    }
    return { ...lifetime, renewedByUse: entry.refreshTokenRenewedByUse };
  }
  return lifetime;
}

function validateEndpoints(provider: ProviderDefinition, where: string): void {
  if (provider.tokenUrl) checkEndpointUrl(provider.tokenUrl, `${where}.tokenUrl`);
  if (provider.authorizationUrl) checkEndpointUrl(provider.authorizationUrl, `${where}.authorizationUrl`);
  if (provider.revokeUrl) checkEndpointUrl(provider.revokeUrl, `${where}.revokeUrl`);
  if (provider.deviceAuthorizationUrl) {
    checkEndpointUrl(provider.deviceAuthorizationUrl, `${where}.deviceAuthorizationUrl`);
  }
  if (provider.apiBaseUrl) checkEndpointUrl(provider.apiBaseUrl, `${where}.apiBaseUrl`);
}
