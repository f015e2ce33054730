import { CronPattern } from 'croner';
import { TokenkeeperError } from '../core/errors.ts';

/** Every 15 minutes, refreshing only what is due: tokens never come near expiry, providers see few calls. */
export const DEFAULT_SCHEDULE = '0 */15 * * * *';
/** The seed C# function's schedule (every 6 hours); fine for 8-hour Fitbit tokens, see docs/azure.md. */
export const SEED_SCHEDULE = '0 0 */6 * * *';

const SETTING = 'TOKENKEEPER_SCHEDULE';
const DAY_SECONDS = 86_400;
/**
 * How far ahead the run days are walked: one full 28-year cycle of weekdays and leap years, plus a month, so
 * Feb 29, "Friday the 13th" and monthly patterns all show their longest gap. At most ~10,300 cheap steps.
 */
const HORIZON_DAYS = 28 * 366 + 31;

/** A checked NCRONTAB schedule (UTC). */
export interface Schedule {
  /** The expression as Azure gets it (whitespace normalised; five fields stay five). */
  expression: string;
  /**
   * The longest gap between two consecutive runs, in seconds, from the real run times: `0 *\/15 * * * *` → 15 min,
   * `0 0 0 * * 1-5` → 72 h (Friday to Monday), `0 0 0 1 * *` → 31 days. Used to refresh a token that would
   * otherwise expire before the next run.
   */
  longestGapSeconds: number;
}

/**
 * Checks an Azure Functions NCRONTAB expression and works out its longest gap between runs. Parsed by croner,
 * configured to match the Functions host (which uses the NCrontab library):
 * - six fields, seconds first; five fields are minutes first with seconds 0 (the host's rule: an expression
 *   of exactly five fields has no seconds field);
 * - month and weekday names (Jan, Mon) are accepted, as in Microsoft's examples ("0 30 9 * Jan Mon");
 * - day of month AND day of week must both match (NCrontab: "0 8 1-7 * Tue" is the first Tuesday), unlike
 *   Vixie cron's OR, so croner runs with `domAndDow: true` (its default `legacyMode` is OR);
 * - croner's extensions that NCrontab refuses (`L`, `W`, `#`, `?`, `@daily`) are refused here too;
 * - times are UTC: WEBSITE_TIME_ZONE / TZ are not supported on Linux Consumption or Flex Consumption.
 * Every problem is one line naming the setting, with an example of a good value.
 */
export function parseSchedule(schedule: string, setting = SETTING, from = Date.now()): Schedule {
  const fields = schedule.trim().split(/\s+/).filter(Boolean);
  const expression = fields.join(' ');
  const refuse = (problem: string): never => {
    throw new TokenkeeperError(
      'config',
      `${setting} ${JSON.stringify(schedule)} is not a usable NCRONTAB schedule: ${problem} (six fields, seconds first, UTC, e.g. "${DEFAULT_SCHEDULE}" or the seed's "${SEED_SCHEDULE}")`,
    );
  };
  if (fields.length !== 6 && fields.length !== 5) {
    refuse(
      fields.length === 0 ? 'it is empty' : `it has ${fields.length} field${fields.length === 1 ? '' : 's'}`,
    );
  }
  const unsupported = /[LW#?@]/i.exec(expression.replace(/\b[a-z]{3}\b/gi, 'n'));
  if (unsupported) refuse(`"${unsupported[0]}" is not NCRONTAB syntax`);
  let pattern: CronPattern;
  try {
    pattern = new CronPattern(fields.length === 5 ? `0 ${expression}` : expression, undefined, {
      mode: '6-part',
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return refuse(
      message
        .replace(/^CronPattern:\s*/, '')
        .replace(/\s+/g, ' ')
        .replace(/\.$/, ''),
    );
  }
  const longestGapSeconds = longestGap(pattern, from);
  if (longestGapSeconds === undefined) return refuse('it never runs (no such date)');
  if (longestGapSeconds === Infinity) return refuse('it runs less than twice in 28 years');
  return { expression, longestGapSeconds };
}

/** Checks an Azure Functions NCRONTAB expression (see parseSchedule) and returns it trimmed. */
export function validateSchedule(schedule: string, setting = SETTING): string {
  return parseSchedule(schedule, setting).expression;
}

/**
 * The runs are the product of the times of day (second × minute × hour, the same on every run day) and the
 * run days (day of month AND month AND weekday), so the longest gap is the larger of the longest gap within a
 * day and the longest gap between two consecutive run days (from the last run of one to the first of the
 * next). Cheap: at most 86,400 times of day and ~10,300 days. undefined: never runs; Infinity: runs once.
 */
function longestGap(pattern: CronPattern, from: number): number | undefined {
  const times: number[] = [];
  for (let hour = 0; hour < 24; hour++) {
    if (!pattern.hour[hour]) continue;
    for (let minute = 0; minute < 60; minute++) {
      if (!pattern.minute[minute]) continue;
      for (let second = 0; second < 60; second++) {
        if (pattern.second[second]) times.push(hour * 3600 + minute * 60 + second);
      }
    }
  }
  const first = times[0] as number;
  const last = times[times.length - 1] as number;
  let longest = 0;
  for (let index = 1; index < times.length; index++) {
    longest = Math.max(longest, (times[index] as number) - (times[index - 1] as number));
  }
  // Every day a run day (the usual case, checked at import on a cold start): consecutive days, no walk needed.
  const everyDay = [
    pattern.month.slice(0, 12),
    pattern.day.slice(0, 31),
    pattern.dayOfWeek.slice(0, 7),
  ].every((days) => days.every(Boolean));
  if (everyDay) return Math.max(longest, DAY_SECONDS - (last - first));
  const startDay = Math.floor(from / (DAY_SECONDS * 1000));
  let previous: number | undefined;
  let runDays = 0;
  for (let day = startDay; day <= startDay + HORIZON_DAYS; day++) {
    const date = new Date(day * DAY_SECONDS * 1000);
    const runs =
      pattern.month[date.getUTCMonth()] &&
      pattern.day[date.getUTCDate() - 1] &&
      pattern.dayOfWeek[date.getUTCDay()];
    if (!runs) continue;
    runDays++;
    if (previous !== undefined) longest = Math.max(longest, (day - previous) * DAY_SECONDS - (last - first));
    previous = day;
  }
  if (runDays === 0) return undefined;
  if (runDays === 1) return Infinity;
  return longest;
}

/** An access-token lifetime a connection's provider documents. */
export interface TokenLifetime {
  provider: string;
  accessTokenLifetimeMs: number;
}

/**
 * One-line warnings when the schedule's longest gap is longer than a provider's access-token lifetime: its
 * tokens then expire between runs (a caller asking for a token in that window gets a refresh on demand at
 * best). One warning per provider, shortest lifetime first; no secrets in them.
 */
export function scheduleWarnings(schedule: Schedule, lifetimes: readonly TokenLifetime[]): string[] {
  const gap = schedule.longestGapSeconds;
  const shortest = new Map<string, number>();
  for (const { provider, accessTokenLifetimeMs } of lifetimes) {
    const known = shortest.get(provider);
    if (known === undefined || accessTokenLifetimeMs < known) shortest.set(provider, accessTokenLifetimeMs);
  }
  return [...shortest]
    .filter(([, lifetimeMs]) => gap * 1000 > lifetimeMs)
    .sort(([, a], [, b]) => a - b)
    .map(
      ([provider, lifetimeMs]) =>
        `${SETTING} "${schedule.expression}" can leave ${formatDuration(gap * 1000)} between runs, longer than the ${formatDuration(lifetimeMs)} access tokens of ${provider}: they will expire between runs; use e.g. "${DEFAULT_SCHEDULE}"`,
    );
}

function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes % 60 !== 0) return `${minutes} min`;
  const hours = minutes / 60;
  return hours > 72 && hours % 24 === 0 ? `${hours / 24} days` : `${hours} h`;
}
