import type { Logger } from '../core/logger.ts';
import type { ProviderRateLimit } from '../stores/store.ts';

export interface SchedulerOptions {
  /** Refreshes running at once. */
  concurrency: number;
  /** Upper bound on one sleep, so connections added by other processes are picked up. */
  maxSleepMs: number;
  signal: AbortSignal;
  logger: Logger;
  /**
   * Fleet mode only (stores with `joinFleet`): per-provider token-request limits the whole fleet respects.
   * Default: the built-in limits, overridden by TOKENKEEPER_RATE_LIMITS (see rate-limits.ts).
   */
  rateLimits?: readonly ProviderRateLimit[];
}

export interface SchedulerStats {
  refreshed: number;
  failed: number;
}
