import { createRequire } from 'node:module';
import type { Logger } from './core/logger.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** Field names that would carry secrets if a caller ever passed them; censored as a second line of defence. */
export const redactedPaths = [
  'accessToken',
  'refreshToken',
  'clientSecret',
  'access_token',
  'refresh_token',
  'client_secret',
  'authorization',
  '*.accessToken',
  '*.refreshToken',
  '*.clientSecret',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  '*.authorization',
];

/** JSON lines via pino (daemon, machines) or short human lines (CLI on a terminal), both on stderr. */
export function createLogger(
  level: LogLevel,
  format: LogFormat,
  stream: NodeJS.WritableStream = process.stderr,
): Logger {
  if (format === 'json') return jsonLogger(level, stream === process.stderr ? 2 : 1);
  const write = (lineLevel: Exclude<LogLevel, 'silent'>) => (fields: object, message: string) => {
    if (order[lineLevel] < order[level]) return;
    const extras = Object.entries(fields)
      .filter(([key]) => !redactedPaths.includes(key))
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const time = new Date().toISOString().slice(11, 19);
    stream.write(`${time} ${lineLevel.padEnd(5)} ${message}${extras ? `  ${extras}` : ''}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/**
 * pino, loaded at the first line that is logged: most CLI runs (`tokenkeeper token me`) log nothing, and
 * loading pino would add about 10 ms to their start.
 */
function jsonLogger(level: LogLevel, fd: number): Logger {
  let logger: Logger | undefined;
  const load = (): Logger => {
    const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
    return pino(
      { level, base: { pid: process.pid }, redact: { paths: redactedPaths, censor: '[redacted]' } },
      pino.destination({ fd, sync: true }),
    );
  };
  const write = (lineLevel: Exclude<LogLevel, 'silent'>) => (fields: object, message: string) => {
    if (order[lineLevel] < order[level]) return;
    logger ??= load();
    logger[lineLevel](fields, message);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
