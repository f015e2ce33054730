/** "7h 44m", "12m 5s", "3s", "expired 2m ago". */
export function formatDuration(ms: number): string {
  const negative = ms < 0;
  let seconds = Math.round(Math.abs(ms) / 1000);
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  const parts = days
    ? [`${days}d`, `${hours}h`]
    : hours
      ? [`${hours}h`, `${minutes}m`]
      : minutes
        ? [`${minutes}m`, `${seconds}s`]
        : [`${seconds}s`];
  return negative ? `-${parts.join(' ')}` : parts.join(' ');
}

export function formatAgo(at: number | undefined, now: number): string {
  return at === undefined ? '-' : `${formatDuration(now - at)} ago`;
}

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000;

/** One day in milliseconds (lifetimes in the catalog and the config are counted in days). */
export const DAY_MS = 24 * HOUR_MS;
