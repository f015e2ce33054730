import { describe, expect, it } from 'vitest';
import { TokenEndpointError, type TokenFailureKind } from './endpoint-error.ts';
import { TokenkeeperError } from './errors.ts';
import {
  backoffLeftMs,
  decideFailure,
  unknownOutcomeMaxWaitMs,
  type AttemptState,
  type FailureDecision,
} from './failure.ts';

const settings = {
  backoff: { baseMs: 1_000, maxMs: 3_600_000 },
  maxInlineWaitMs: 30_000,
  unknownOutcomeMaxWaitMs: 30_000,
};
/** Jitter in the middle: a backoff ceiling C waits 0.75 C. */
const attempt: AttemptState = {
  number: 1,
  maxAttempts: 3,
  remainingMs: Infinity,
  outcomeUnknownBefore: false,
  random: () => 0.5,
};
const endpoint = (kind: TokenFailureKind, retryAfterMs?: number) =>
  new TokenEndpointError(kind, `token endpoint: ${kind}`, { retryAfterMs });
const failing = (
  action: 'retry_now' | 'retry_later' | 'fix_first',
  waitMs: number,
  keepPending: boolean,
): FailureDecision => ({ action, status: 'failing', waitMs, keepPending }) as FailureDecision;

describe('decideFailure: one row per rule of design step 6', () => {
  it.each<[string, unknown, number, Partial<AttemptState>, FailureDecision]>([
    // A human must act: nothing is retried, whatever the attempt.
    ['invalid_grant', endpoint('invalid_grant'), 0, {}, { action: 'needs_reauth', status: 'needs_reauth' }],
    [
      'no refresh token stored',
      new TokenkeeperError('needs_reauth', 'no refresh token'),
      4,
      {},
      { action: 'needs_reauth', status: 'needs_reauth' },
    ],
    ['410 Gone', endpoint('retired'), 0, {}, { action: 'provider_retired', status: 'provider_retired' }],
    // Unknown outcome: the write-ahead record is kept and the wait is capped by the grace window.
    ['5xx, first failure', endpoint('server'), 0, {}, failing('retry_now', 750, true)],
    ['timeout on the last attempt', endpoint('timeout'), 0, { number: 3 }, failing('retry_later', 750, true)],
    ['cut connection after 9 failures', endpoint('network'), 9, {}, failing('retry_now', 30_000, true)],
    [
      'bad body after 9 failures, one attempt allowed',
      endpoint('bad_response'),
      9,
      { maxAttempts: 1 },
      failing('retry_later', 30_000, true),
    ],
    ['an unexpected throw', new Error('boom'), 0, {}, failing('retry_now', 750, true)],
    // Provably nothing sent: the record goes, unless an earlier attempt's outcome is still unknown.
    ['connection refused', endpoint('unreachable'), 0, {}, failing('retry_now', 750, false)],
    ['429 with Retry-After 1 s', endpoint('rate_limited', 1_000), 0, {}, failing('retry_now', 1_000, false)],
    [
      '429 after an unknown outcome',
      endpoint('rate_limited', 1_000),
      0,
      { outcomeUnknownBefore: true },
      failing('retry_now', 1_000, true),
    ],
    [
      '429 with Retry-After 120 s: too long to wait inline',
      endpoint('rate_limited', 120_000),
      0,
      {},
      failing('retry_later', 120_000, false),
    ],
    [
      'Retry-After beats the grace cap',
      endpoint('server', 120_000),
      9,
      {},
      failing('retry_later', 120_000, true),
    ],
    [
      'the call deadline is nearer than the wait',
      endpoint('server'),
      0,
      { remainingMs: 500 },
      failing('retry_later', 750, true),
    ],
    // Only a fix helps: the call gives up, the scheduler tries again after the plain backoff.
    ['invalid_client', endpoint('invalid_client'), 2, {}, failing('fix_first', 3_000, false)],
    ['request rejected', endpoint('rejected'), 0, {}, failing('fix_first', 750, false)],
    [
      'refused by our URL policy',
      new TokenkeeperError('config', 'http only on loopback'),
      0,
      { outcomeUnknownBefore: true },
      failing('fix_first', 750, false),
    ],
  ])('%s', (_label, error, failureCount, state, expected) => {
    expect(decideFailure(error, { failureCount }, { ...attempt, ...state }, settings)).toEqual(expected);
  });

  it('retries an unknown outcome inside the provider grace window, whatever the backoff', () => {
    expect(unknownOutcomeMaxWaitMs(undefined)).toBe(30_000);
    expect(unknownOutcomeMaxWaitMs(2 * 60_000)).toBe(30_000); // Fitbit
    expect(unknownOutcomeMaxWaitMs(60_000)).toBe(15_000);
    expect(unknownOutcomeMaxWaitMs(8 * 3_600_000)).toBe(30_000); // Withings
    const short = { ...settings, unknownOutcomeMaxWaitMs: unknownOutcomeMaxWaitMs(20_000) };
    expect(decideFailure(endpoint('timeout'), { failureCount: 9 }, attempt, short)).toEqual(
      failing('retry_now', 5_000, true),
    );
  });
});

describe('backoffLeftMs', () => {
  it.each([
    ['failing, backoff ahead', 'failing', 1_500, 500],
    ['failing, backoff over', 'failing', 900, 0],
    ['failing, no next attempt', 'failing', undefined, 0],
    ['active (a stale next attempt)', 'active', 1_500, 0],
    ['needs a human', 'needs_reauth', 1_500, 0],
  ] as const)('%s', (_label, status, nextAttemptAt, left) => {
    expect(backoffLeftMs({ status, nextAttemptAt }, 1_000)).toBe(left);
  });
});
