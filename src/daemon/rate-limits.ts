import { TokenkeeperError } from '../core/errors.ts';
import { builtInProviders } from '../providers/catalog.ts';
import type { ProviderRateLimit } from '../stores/store.ts';

const UNITS: Record<string, number> = {
  s: 1_000,
  sec: 1_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Token-endpoint limits per connection (one user at one app) that a fleet respects together, as each built-in
 * provider's catalog entry states them (Fitbit 150 per user per hour, Google 300 per user per minute). Refreshes
 * use a sliver of that (one per access-token lifetime); the limit matters when something loops, such as a
 * flapping provider or many forced refreshes.
 */
export const defaultRateLimits: readonly ProviderRateLimit[] = builtInProviders.flatMap((provider) =>
  provider.rateLimit ? [{ provider: provider.id, ...provider.rateLimit }] : [],
);

/**
 * `TOKENKEEPER_RATE_LIMITS="fitbit=150/h,google-health=300/min,my-api=10/s"` replaces the defaults for the named
 * providers; `provider=off` removes a limit. Units: s, min, h, d.
 */
export function rateLimitsFrom(env: NodeJS.ProcessEnv): ProviderRateLimit[] {
  const limits = new Map(defaultRateLimits.map((limit) => [limit.provider, limit]));
  const text = env.TOKENKEEPER_RATE_LIMITS?.trim();
  if (!text) return [...limits.values()];
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^([a-z0-9][a-z0-9_-]*)=(?:(off)|(\d+)\/(\d*)(s|sec|min|h|d))$/.exec(entry);
    if (!match) {
      throw new TokenkeeperError(
        'config',
        `TOKENKEEPER_RATE_LIMITS: "${entry}" is not provider=N/unit (e.g. fitbit=150/h, google-health=300/min) or provider=off`,
      );
    }
    const [, provider = '', off, requests, count, unit = ''] = match;
    if (off) {
      limits.delete(provider);
      continue;
    }
    const windowMs = Number(count || '1') * (UNITS[unit] ?? 0);
    if (Number(requests) < 1 || windowMs <= 0) {
      throw new TokenkeeperError(
        'config',
        `TOKENKEEPER_RATE_LIMITS: "${entry}" must allow at least 1 request per window`,
      );
    }
    limits.set(provider, { provider, requests: Number(requests), windowMs });
  }
  return [...limits.values()];
}
