import { TokenkeeperError } from '../core/errors.ts';
import type { ProviderDefinition } from './types.ts';

const URL_FIELDS = [
  'authorizationUrl',
  'tokenUrl',
  'revokeUrl',
  'deviceAuthorizationUrl',
  'apiBaseUrl',
] as const;

/**
 * Replaces `{name}` placeholders in the provider's endpoint URLs with its `urlParameters` (e.g. Microsoft's
 * `{tenant}`, default "common"). A placeholder without a value is a configuration error naming the setting.
 */
export function fillUrlParameters(provider: ProviderDefinition, where: string): ProviderDefinition {
  const values = provider.urlParameters ?? {};
  if (!URL_FIELDS.some((field) => provider[field]?.includes('{'))) return provider;
  const filled: ProviderDefinition = { ...provider };
  for (const field of URL_FIELDS) {
    const template = provider[field];
    if (!template) continue;
    filled[field] = template.replace(/\{([a-zA-Z]+)\}/g, (_match, name: string) => {
      const value = values[name];
      if (value === undefined) {
        throw new TokenkeeperError(
          'config',
          `${where}.${field} contains {${name}} but no value is set: add "${name}" to providers.${provider.id} in the config`,
        );
      }
      return encodeURIComponent(value);
    });
  }
  return filled;
}
