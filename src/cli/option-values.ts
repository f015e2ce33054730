import { TokenkeeperError } from '../core/errors.ts';

/**
 * Parsers of option values: commander hands every value over as the text typed, and these turn it into the
 * number a command's options hold, or a usage error (exit 2) naming the flag and the value.
 */

/** A finite number of seconds, 0 or more (more than 0 with `positive`). */
export function secondsOption(value: string, flag: string, options: { positive?: boolean } = {}): number {
  const seconds = Number(value);
  const low = options.positive ? seconds <= 0 : seconds < 0;
  if (value.trim() === '' || !Number.isFinite(seconds) || low) {
    throw new TokenkeeperError(
      'usage',
      `${flag} must be a ${options.positive ? 'positive number of seconds' : 'number of seconds (0 or more)'}, got "${value}"`,
    );
  }
  return seconds;
}

/** `secondsOption` for a flag that may be left out. */
export function optionalSeconds(
  value: string | undefined,
  flag: string,
  options: { positive?: boolean } = {},
): number | undefined {
  return value === undefined ? undefined : secondsOption(value, flag, options);
}

/** A whole number from `min` (default 1) up to `max`, if any. */
export function wholeNumberOption(
  value: string,
  flag: string,
  range: { min?: number; max?: number } = {},
): number {
  const min = range.min ?? 1;
  const number = Number(value);
  if (
    value.trim() === '' ||
    !Number.isInteger(number) ||
    number < min ||
    (range.max !== undefined && number > range.max)
  ) {
    const wanted =
      range.max !== undefined
        ? `a whole number from ${min} to ${range.max}`
        : min === 1
          ? 'a positive whole number'
          : `a whole number of at least ${min}`;
    throw new TokenkeeperError('usage', `${flag} must be ${wanted}, got "${value}"`);
  }
  return number;
}

/** A TCP port of a local server: 0 (any free port) to 65535. */
export function portOption(value: string, flag: string): number {
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TokenkeeperError(
      'usage',
      `${flag} must be a port number from 0 (any free port) to 65535, got "${value}"`,
    );
  }
  return port;
}

/** A flag's help text with its default, as commander shows one: `… (default: "30")`. */
export function withDefault(description: string, value: string | number): string {
  return `${description} (default: ${JSON.stringify(String(value))})`;
}
