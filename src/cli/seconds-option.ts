import { TokenkeeperError } from '../core/errors.ts';

/** Parses a `--flag <seconds>` value: a finite number of seconds, 0 or more (more than 0 with `positive`). */
export function secondsOption(value: string, flag: string, options: { positive?: boolean } = {}): number {
  const seconds = Number(value);
  const low = options.positive ? seconds <= 0 : seconds < 0;
  if (value.trim() === '' || !Number.isFinite(seconds) || low) {
    throw new TokenkeeperError(
      'usage',
      `${flag} must be a number of seconds${options.positive ? ' greater than 0' : ' (0 or more)'}, got "${value}"`,
    );
  }
  return seconds;
}
