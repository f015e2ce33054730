import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { parseSchedule, scheduleWarnings, validateSchedule } from '../../src/azure/schedule.ts';
import { readFunctionSettings } from '../../src/azure/settings.ts';
import { refusal } from '../support/rejection.ts';

const FROM = Date.UTC(2026, 0, 1);
const HOUR = 3600;
const DAY = 24 * HOUR;
/** The longest gap between runs, walked from the same day every time. */
const longestGap = (schedule: string) => parseSchedule(schedule, undefined, FROM).longestGapSeconds;

describe('NCRONTAB schedules (TOKENKEEPER_SCHEDULE)', () => {
  it.each([
    ['0 */15 * * * *', 15 * 60],
    ['0 0 */6 * * *', 6 * HOUR],
    ['0 30 2 * * *', DAY],
    ['0 0 0 * * 1-5', 72 * HOUR], // Friday to Monday
    ['0 0 0 * * Mon-Fri', 72 * HOUR], // names, as in Microsoft's "0 30 9 * Jan Mon"
    ['0 0 0 1 * *', 31 * DAY],
    ['0 0 9-17 * * *', 16 * HOUR], // 17:00 to 09:00 the next day
    ['*/10 * * * * *', 10],
    ['* * * * * *', 1],
    ['*/15 * * * *', 15 * 60], // five fields: minutes first, seconds 0
    ['0 0 0 29 2 *', (4 * 365 + 1) * DAY], // leap days only
  ])('%s: the longest gap between runs is %i s', (schedule, seconds) => {
    expect(longestGap(schedule)).toBe(seconds);
  });

  it('matches a walk over the real run times (day of month AND day of week, as NCrontab)', () => {
    for (const schedule of ['0 0 0 13 * 5', '0 30 9 * Jan Mon', '0 15 8 1-7 * Tue', '0 0 */5 * * *']) {
      const cron = new Cron(schedule, { utcOffset: 0, domAndDow: true, mode: '6-part' });
      const runs = cron.nextRuns(2000, new Date(FROM)).map((date) => date.getTime() / 1000);
      const walked = Math.max(...runs.slice(1).map((run, index) => run - (runs[index] as number)));
      expect(longestGap(schedule)).toBeGreaterThanOrEqual(walked);
      if (runs.length === 2000) expect(longestGap(schedule)).toBe(walked);
    }
    // Friday the 13th only (AND), not every Friday plus every 13th (Vixie cron's OR).
    expect(longestGap('0 0 0 13 * 5')).toBeGreaterThan(90 * DAY);
  });

  it('keeps the expression Azure gets, whitespace normalised', () => {
    expect(validateSchedule(' 0  0 * * * * ')).toBe('0 0 * * * *');
    expect(parseSchedule('*/15 * * * *', undefined, FROM).expression).toBe('*/15 * * * *');
  });

  it.each([
    ['a b c d e f', /illegal characters/],
    ['0 99 * * * *', /minute: 99/],
    ['* * * * * * *', /7 fields/],
    ['', /empty/],
    ['0 0 0 30 2 *', /never runs/],
    ['0 0 0 L * *', /"L" is not NCRONTAB/],
    ['0 0 0 ? * *', /"\?" is not NCRONTAB/],
  ])(
    'refuses %j at start with a one-line message naming the setting and a good value',
    (schedule, problem) => {
      const error = refusal(() => validateSchedule(schedule));
      expect(error.code).toBe('config');
      expect(error.message).toMatch(problem);
      expect(error.message).toMatch(/^TOKENKEEPER_SCHEDULE /);
      expect(error.message).toContain('e.g. "0 */15 * * * *"');
      expect(error.message).not.toContain('\n');
    },
  );

  it('refuses a bad TOKENKEEPER_SCHEDULE when the settings are read', () => {
    const error = refusal(() =>
      readFunctionSettings({ TOKENKEEPER_KEYVAULT: 'my-tokens', TOKENKEEPER_SCHEDULE: '0 99 * * * *' }),
    );
    expect(error.message).toMatch(
      /^TOKENKEEPER_SCHEDULE "0 99 \* \* \* \*" is not a usable NCRONTAB schedule/,
    );
  });

  it('warns when tokens would expire between runs (72 h weekday schedule vs 1 h and 8 h tokens)', () => {
    const lifetimes = [
      { provider: 'fitbit', accessTokenLifetimeMs: 8 * 3_600_000 },
      { provider: 'google-health', accessTokenLifetimeMs: 3_600_000 },
      { provider: 'google-health', accessTokenLifetimeMs: 3_600_000 },
    ];
    const warnings = scheduleWarnings(parseSchedule('0 0 0 * * 1-5', undefined, FROM), lifetimes);
    expect(warnings).toEqual([
      'TOKENKEEPER_SCHEDULE "0 0 0 * * 1-5" can leave 72 h between runs, longer than the 1 h access tokens of google-health: they will expire between runs; use e.g. "0 */15 * * * *"',
      'TOKENKEEPER_SCHEDULE "0 0 0 * * 1-5" can leave 72 h between runs, longer than the 8 h access tokens of fitbit: they will expire between runs; use e.g. "0 */15 * * * *"',
    ]);
    expect(scheduleWarnings(parseSchedule('0 0 */6 * * *', undefined, FROM), lifetimes)).toEqual([
      expect.stringContaining('6 h between runs, longer than the 1 h access tokens of google-health'),
    ]);
    expect(scheduleWarnings(parseSchedule('0 */15 * * * *', undefined, FROM), lifetimes)).toEqual([]);
    expect(scheduleWarnings(parseSchedule('0 0 0 * * 1-5', undefined, FROM), [])).toEqual([]);
  });
});
