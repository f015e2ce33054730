const HOUR_MS = 3_600_000;

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Seconds until the window resets (the top of the hour). */
  resetSeconds: number;
  exceeded: boolean;
}

/** Fixed hourly windows per key, as Fitbit counts requests per user per clock hour. */
export class HourlyRateLimiter {
  readonly #limit: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, { hour: number; count: number }>();

  constructor(limit: number, now: () => number) {
    this.#limit = limit;
    this.#now = now;
  }

  hit(key: string): RateLimitState {
    const now = this.#now();
    const hour = Math.floor(now / HOUR_MS);
    let window = this.#windows.get(key);
    if (window?.hour !== hour) {
      window = { hour, count: 0 };
      this.#windows.set(key, window);
    }
    window.count++;
    return {
      limit: this.#limit,
      remaining: Math.max(0, this.#limit - window.count),
      resetSeconds: Math.ceil(((hour + 1) * HOUR_MS - now) / 1000),
      exceeded: window.count > this.#limit,
    };
  }
}
