import { TokenkeeperError } from '../core/errors.ts';
import type { ProviderSettings } from '../config/schema.ts';
import { checkEndpointUrl } from '../oauth/url-policy.ts';
import { builtInProviders } from './catalog.ts';
import type { ProviderDefinition } from './types.ts';

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
 * Built-in providers with config overrides applied, plus user-defined ones (`extends` a built-in, usually
 * `oauth2`). Every endpoint is checked here, so a bad URL is reported when the config loads, not mid-refresh.
 */
export function createProviderRegistry(settings: Record<string, ProviderSettings> = {}): ProviderRegistry {
  const definitions = new Map<string, ProviderDefinition>(
    builtInProviders.map((provider) => [provider.id, provider]),
  );
  const clients = new Map<string, ProviderClientSettings>();
  for (const [id, entry] of Object.entries(settings)) {
    const baseId = entry.extends ?? id;
    const base = definitions.get(baseId) ?? builtInProviders.find((provider) => provider.id === baseId);
    if (!base) {
      throw new TokenkeeperError(
        'config',
        `providers.${id}: unknown provider "${baseId}"; add "extends": "oauth2" to define your own, or use one of ${builtInProviders.map((p) => p.id).join(', ')}`,
      );
    }
    const merged: ProviderDefinition = {
      ...base,
      id,
      displayName: entry.displayName ?? (entry.extends ? id : base.displayName),
      authorizationUrl: entry.authorizationUrl ?? base.authorizationUrl,
      tokenUrl: entry.tokenUrl ?? base.tokenUrl,
      revokeUrl: entry.revokeUrl ?? base.revokeUrl,
      apiBaseUrl: entry.apiBaseUrl ?? base.apiBaseUrl,
      clientAuth: entry.clientAuth ?? base.clientAuth,
      pkce: entry.pkce ?? base.pkce,
      scopeSeparator: entry.scopeSeparator ?? base.scopeSeparator,
      defaultScopes: entry.scopes ?? base.defaultScopes,
      extraAuthParams: { ...base.extraAuthParams, ...entry.extraAuthParams },
      extraTokenParams: { ...base.extraTokenParams, ...entry.extraTokenParams },
    };
    validateEndpoints(merged, `providers.${id}`);
    definitions.set(id, merged);
    clients.set(id, {
      clientId: entry.clientId,
      clientSecretRef: entry.clientSecret,
      redirectUri: entry.redirectUri,
    });
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

function validateEndpoints(provider: ProviderDefinition, where: string): void {
  if (provider.tokenUrl) checkEndpointUrl(provider.tokenUrl, `${where}.tokenUrl`);
  if (provider.authorizationUrl) checkEndpointUrl(provider.authorizationUrl, `${where}.authorizationUrl`);
  if (provider.revokeUrl) checkEndpointUrl(provider.revokeUrl, `${where}.revokeUrl`);
  if (provider.apiBaseUrl) checkEndpointUrl(provider.apiBaseUrl, `${where}.apiBaseUrl`);
}
