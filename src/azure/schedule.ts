import { TokenkeeperError } from '../core/errors.ts';

/** Every 15 minutes, refreshing only what is due: tokens never come near expiry, providers see few calls. */
export const DEFAULT_SCHEDULE = '0 */15 * * * *';
/** The seed C# function's schedule (every 6 hours); fine for 8-hour Fitbit tokens, see docs/azure.md. */
export const SEED_SCHEDULE = '0 0 */6 * * *';

const FIELD = /^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?)*$/;
const UNIT_SECONDS = [1, 60, 3600, 86_400, 31 * 86_400, 7 * 86_400];

/** Checks an Azure Functions NCRONTAB expression (six fields, seconds first) and returns it trimmed. */
export function validateSchedule(schedule: string, setting = 'TOKENKEEPER_SCHEDULE'): string {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 6 || !fields.every((field) => FIELD.test(field))) {
    throw new TokenkeeperError(
      'config',
      `${setting} "${schedule}" is not an NCRONTAB expression of six fields, seconds first (e.g. "${DEFAULT_SCHEDULE}" or the seed's "${SEED_SCHEDULE}")`,
    );
  }
  return fields.join(' ');
}

/**
 * The longest gap between two runs, estimated from the first field (seconds first) that is not a fixed number:
 * `0 *\/15 * * * *` → 15 min, `0 0 *\/6 * * *` → 6 h, `0 30 2 * * *` → 1 day. Lists and ranges give the unit
 * of their field (an over-estimate, which only makes refreshes earlier). Used to refresh a token that would
 * otherwise expire before the next run.
 */
export function scheduleIntervalSeconds(schedule: string): number {
  const fields = validateSchedule(schedule).split(' ');
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index] as string;
    if (/^\d+$/.test(field)) continue;
    const unit = UNIT_SECONDS[index] as number;
    const step = /^\*\/(\d+)$/.exec(field);
    if (field === '*') return unit;
    if (step) return unit * Number(step[1]);
    // A list or range in this field: the next field up bounds the gap.
    return UNIT_SECONDS[index + 1] ?? unit;
  }
  return 366 * 86_400;
}
