import type { ExpiryPolicy } from '../core/expiry.ts';
import type { ProviderDefinition } from '../providers/types.ts';

/**
 * The expiry policy of one provider's connections: the global one with what the provider adds. Without
 * expires_in, the provider's configured default lifetime wins; else the shorter of the global default and the
 * documented lifetime (a refresh too early is harmless; handing out an expired token is not). Every decision
 * about a connection's times (due, keep-alive, refresh-token expiry, early warning) uses this one policy.
 */
export function expiryPolicyFor(global: ExpiryPolicy, provider: ProviderDefinition): ExpiryPolicy {
  const documented = provider.accessTokenLifetimeMs;
  const defaultLifetimeMs =
    provider.defaultLifetimeMs ??
    (documented !== undefined && documented < global.defaultLifetimeMs
      ? documented
      : global.defaultLifetimeMs);
  return {
    ...global,
    defaultLifetimeMs,
    keepAliveMs: provider.keepAliveMs ?? global.keepAliveMs,
    refreshTokenLifetime: provider.refreshTokenLifetime,
    expiringSoonMs: provider.expiringSoonMs ?? global.expiringSoonMs,
  };
}
