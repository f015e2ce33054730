// The time limits of the Functions app, in one place. host.json's functionTimeout must equal FUNCTION_TIMEOUT_MS
// (test/azure/bundle.test.ts checks it); the timer's budget is derived from it.

/**
 * host.json `functionTimeout` (00:10:00). Flex Consumption defaults to 30 minutes and allows unbounded; a run
 * takes seconds, so 10 minutes cuts a hung run well before the next one (every 15 minutes by default).
 */
export const FUNCTION_TIMEOUT_MS = 10 * 60_000;

/** Webhooks a timer run triggered get this long to be delivered (retries included) before the run returns. */
export const TIMER_WEBHOOK_DRAIN_MS = 60_000;

/** The same for an HTTP request, which a caller is waiting for (and the front end cuts at 230 s). */
export const HTTP_WEBHOOK_DRAIN_MS = 10_000;

/**
 * The last refresh started within the budget may still wait for the lock (refresh.lockWaitSeconds, 120 s by
 * default), call the provider (15 s) and retry its save (30 s).
 */
const LAST_REFRESH_RESERVE_MS = 3 * 60_000;

/** The timer starts no refresh after this long (6 minutes): the rest waits for the next run. */
export const DEFAULT_TIMER_BUDGET_MS = FUNCTION_TIMEOUT_MS - LAST_REFRESH_RESERVE_MS - TIMER_WEBHOOK_DRAIN_MS;
