import { describe, expect, it } from 'vitest';
import { isTokenkeeperError } from '../core/errors.ts';
import { defaultRateLimits, rateLimitsFrom } from './rate-limits.ts';

describe('fleet rate limits', () => {
  it('default to Fitbit 150 per hour and Google 300 per minute', () => {
    expect(rateLimitsFrom({})).toEqual(defaultRateLimits);
    expect(rateLimitsFrom({})).toEqual([
      { provider: 'fitbit', requests: 150, windowMs: 3_600_000 },
      { provider: 'google-health', requests: 300, windowMs: 60_000 },
    ]);
  });

  it('TOKENKEEPER_RATE_LIMITS replaces, adds and removes limits per provider', () => {
    const limits = rateLimitsFrom({
      TOKENKEEPER_RATE_LIMITS: 'fitbit=100/2h, my-api=10/s,google-health=off',
    });
    expect(limits).toEqual([
      { provider: 'fitbit', requests: 100, windowMs: 7_200_000 },
      { provider: 'my-api', requests: 10, windowMs: 1_000 },
    ]);
  });

  it('rejects a malformed entry with a one-line hint', () => {
    for (const text of ['fitbit=150', 'fitbit=150/week', 'Fitbit=1/h', 'fitbit=0/h']) {
      let error: unknown;
      try {
        rateLimitsFrom({ TOKENKEEPER_RATE_LIMITS: text });
      } catch (caught) {
        error = caught;
      }
      expect(isTokenkeeperError(error, 'config'), text).toBe(true);
      expect((error as Error).message).toMatch(/TOKENKEEPER_RATE_LIMITS/);
      expect((error as Error).message).not.toContain('\n');
    }
  });
});
