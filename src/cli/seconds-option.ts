import { TokenkeeperError } from '../core/errors.ts';

/** Parses a `--flag <seconds>` value: a finite number, at least `min` (0 by default; use a positive min for > 0). */
export function secondsOption(value: string, flag: string, min = 0): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < min) {
    throw new TokenkeeperError(
      'usage',
      `${flag} must be a number of seconds${min > 0 ? ` of at least ${min}` : ' (0 or more)'}, got "${value}"`,
    );
  }
  return seconds;
}
