import { createRequire } from 'node:module';
import { logLevels, type LogLevel, type Logger } from './core/logger.ts';
import { redactFields } from './core/redact.ts';

export { logLevels };
export type { LogLevel };
export type LogFormat = 'json' | 'pretty';
export const logFormats: readonly LogFormat[] = ['json', 'pretty'];

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

type LineLevel = Exclude<LogLevel, 'silent'>;

/**
 * JSON lines via pino (daemon, machines) or short human lines (CLI on a terminal), both on stderr by default.
 * Both formats log the fields through the same redaction (core/redact.ts): a format cannot show what another hides.
 */
export function createLogger(
  level: LogLevel,
  format: LogFormat,
  stream: NodeJS.WritableStream = process.stderr,
): Logger {
  const print = format === 'json' ? jsonPrinter(level, stream) : prettyPrinter(stream);
  const write = (lineLevel: LineLevel) => (fields: object, message: string) => {
    if (order[lineLevel] < order[level]) return;
    print(lineLevel, redactFields(fields), message);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

type Printer = (level: LineLevel, fields: Record<string, unknown>, message: string) => void;

function prettyPrinter(stream: NodeJS.WritableStream): Printer {
  return (level, fields, message) => {
    const extras = Object.entries(fields)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const time = new Date().toISOString().slice(11, 19);
    stream.write(`${time} ${level.padEnd(5)} ${message}${extras ? `  ${extras}` : ''}\n`);
  };
}

/**
 * pino, loaded at the first line that is logged: most CLI runs (`tokenkeeper token me`) log nothing, and
 * loading pino would add about 10 ms to their start.
 */
function jsonPrinter(level: LogLevel, stream: NodeJS.WritableStream): Printer {
  let logger: Logger | undefined;
  const load = (): Logger => {
    const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
    // Synchronous writes to the stderr descriptor keep log lines in order with the CLI's own output.
    const destination = stream === process.stderr ? pino.destination({ fd: 2, sync: true }) : stream;
    return pino({ level, base: { pid: process.pid } }, destination);
  };
  return (lineLevel, fields, message) => {
    logger ??= load();
    logger[lineLevel](fields, message);
  };
}
