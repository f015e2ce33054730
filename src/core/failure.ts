import { backoffDelay, type BackoffPolicy } from './backoff.ts';
import { TokenEndpointError } from './endpoint-error.ts';
import { isTokenkeeperError } from './errors.ts';
import type { Connection, HumanStatus } from './types.ts';

/**
 * The longest wait before retrying an attempt whose outcome is unknown, for a provider that names no grace window:
 * soon, because if it rotated the refresh token only the same token sent again can recover its answer.
 */
export const UNKNOWN_OUTCOME_MAX_WAIT_MS = 30_000;

/**
 * How soon an unknown outcome must be retried at a provider that accepts a spent refresh token for `graceMs`:
 * a quarter of that window (room for several tries), and never later than UNKNOWN_OUTCOME_MAX_WAIT_MS.
 */
export function unknownOutcomeMaxWaitMs(graceMs: number | undefined): number {
  return graceMs === undefined
    ? UNKNOWN_OUTCOME_MAX_WAIT_MS
    : Math.min(UNKNOWN_OUTCOME_MAX_WAIT_MS, graceMs / 4);
}

export interface FailureSettings {
  backoff: BackoffPolicy;
  /** A retry inside one call is made only if its wait is at most this long; longer waits go to the scheduler. */
  maxInlineWaitMs: number;
  /** The longest wait before retrying an attempt whose outcome is unknown (see `unknownOutcomeMaxWaitMs`). */
  unknownOutcomeMaxWaitMs: number;
}

/** Where one failed request stands within its refresh call. */
export interface AttemptState {
  /** This request's number within the call, from 1. */
  number: number;
  /** Requests the call may make at most. */
  maxAttempts: number;
  /** Time left before the call's deadline (Infinity: none). */
  remainingMs: number;
  /** Whether an earlier request (of this call, or one cut off by a crash) may already have spent the token. */
  outcomeUnknownBefore: boolean;
  /** The backoff's jitter source, in [0, 1). */
  random: () => number;
}

/**
 * What to do after a failed token request (design step 6):
 * - `needs_reauth` / `provider_retired`: a human must act; nothing is retried.
 * - `retry_now`: try again within this call after `waitMs`.
 * - `retry_later`: give up this call; the scheduler (or the next call) tries again after `waitMs`.
 * - `fix_first`: a failure only a fix cures (invalid_client, our own URL policy, a rejected request): the call
 *   gives up, and the scheduler tries again only after the backoff `waitMs`.
 * `keepPending`: the provider may have spent the refresh token (unknown outcome), so the write-ahead record is
 * kept and the next attempt, by any process, sends the same token.
 */
export type FailureDecision =
  | { action: HumanStatus; status: HumanStatus }
  | { action: 'retry_now' | 'retry_later'; status: 'failing'; waitMs: number; keepPending: boolean }
  | { action: 'fix_first'; status: 'failing'; waitMs: number; keepPending: false };

/** A pure function of its inputs (the jitter comes from `attempt.random`): the engine only carries it out. */
export function decideFailure(
  error: unknown,
  connection: Pick<Connection, 'failureCount'>,
  attempt: AttemptState,
  settings: FailureSettings,
): FailureDecision {
  const endpoint = error instanceof TokenEndpointError ? error : undefined;
  if (endpoint?.kind === 'invalid_grant' || (!endpoint && isTokenkeeperError(error, 'needs_reauth'))) {
    return { action: 'needs_reauth', status: 'needs_reauth' };
  }
  if (endpoint?.kind === 'retired') return { action: 'provider_retired', status: 'provider_retired' };
  // A request refused by our own URL policy (config) never left, like one that could not connect.
  const config = isTokenkeeperError(error, 'config');
  const sentNothing = endpoint ? !endpoint.outcomeUnknown : config;
  const retryable = endpoint ? endpoint.retryable : !config;
  const retryAfterMs = endpoint?.retryAfterMs;
  const backoff = backoffDelay(connection.failureCount + 1, settings.backoff, retryAfterMs, attempt.random);
  if (!retryable) return { action: 'fix_first', status: 'failing', waitMs: backoff, keepPending: false };
  // A passing failure that provably sent nothing (429, connection refused) keeps the record only while an
  // earlier attempt's outcome is still unknown.
  const keepPending = !sentNothing || attempt.outcomeUnknownBefore;
  // A refresh token the provider may have rotated is retried inside its grace window however long the outage
  // before it was, but never before the provider's Retry-After.
  const waitMs = keepPending
    ? Math.max(Math.min(backoff, settings.unknownOutcomeMaxWaitMs), retryAfterMs ?? 0)
    : backoff;
  const inline =
    attempt.number < attempt.maxAttempts &&
    waitMs <= settings.maxInlineWaitMs &&
    waitMs < attempt.remainingMs;
  return { action: inline ? 'retry_now' : 'retry_later', status: 'failing', waitMs, keepPending };
}

/** How long a failing connection still waits out its backoff (and the provider's Retry-After); 0: not waiting. */
export function backoffLeftMs(connection: Pick<Connection, 'status' | 'nextAttemptAt'>, now: number): number {
  if (connection.status !== 'failing') return 0;
  return Math.max(0, (connection.nextAttemptAt ?? 0) - now);
}
