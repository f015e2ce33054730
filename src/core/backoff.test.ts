import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultBackoff, parseRetryAfter } from './backoff.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('parseRetryAfter', () => {
  it('reads delta seconds', () => {
    expect(parseRetryAfter('1', NOW)).toBe(1000);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW)).toBe(30_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter(new Date(NOW - 30_000).toUTCString(), NOW)).toBe(0);
  });

  it('ignores missing or unreadable values', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  const policy = { baseMs: 1000, maxMs: 60_000 };

  it('grows exponentially with full jitter between half and all of the ceiling', () => {
    expect(backoffDelay(1, policy, undefined, () => 0)).toBe(500);
    expect(backoffDelay(1, policy, undefined, () => 0.999999)).toBeCloseTo(1000, 0);
    expect(backoffDelay(2, policy, undefined, () => 0)).toBe(1000);
    expect(backoffDelay(3, policy, undefined, () => 0)).toBe(2000);
    expect(backoffDelay(4, policy, undefined, () => 0.5)).toBe(6000);
  });

  it('is capped at maxMs, even for huge attempt numbers', () => {
    for (const attempt of [7, 20, 1000, 100_000]) {
      const delay = backoffDelay(attempt, policy, undefined, () => 0.999999);
      expect(delay).toBeLessThanOrEqual(60_000);
      expect(delay).toBeGreaterThanOrEqual(30_000);
    }
    expect(backoffDelay(50, defaultBackoff, undefined, () => 0.999999)).toBeLessThanOrEqual(
      defaultBackoff.maxMs,
    );
  });

  it('treats attempt 0 or below like the first attempt', () => {
    expect(backoffDelay(0, policy, undefined, () => 0)).toBe(500);
    expect(backoffDelay(-3, policy, undefined, () => 0)).toBe(500);
  });

  it('never waits less than Retry-After — not even above the cap', () => {
    for (const r of [0, 0.5, 0.999999]) {
      expect(backoffDelay(1, policy, 1000, () => r)).toBeGreaterThanOrEqual(1000);
      expect(backoffDelay(1, policy, 7000, () => r)).toBe(7000);
      expect(backoffDelay(30, policy, 120_000, () => r)).toBe(120_000);
    }
  });

  it('uses Math.random by default and stays within bounds', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(3, policy);
      expect(delay).toBeGreaterThanOrEqual(2000);
      expect(delay).toBeLessThanOrEqual(4000);
    }
  });
});
