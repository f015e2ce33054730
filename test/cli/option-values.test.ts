import { describe, expect, it } from 'vitest';
import { portOption, secondsOption, wholeNumberOption, withDefault } from '../../src/cli/option-values.ts';

const usage = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    expect((error as { code?: string }).code).toBe('usage');
    return (error as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('option values: one parser per kind, for every command', () => {
  it('seconds: a finite number, 0 or more, or more than 0 when positive', () => {
    expect(secondsOption('0', '--min-valid')).toBe(0);
    expect(secondsOption('1.5', '--timeout', { positive: true })).toBe(1.5);
    for (const value of ['', ' ', 'soon', '-1', 'Infinity']) {
      expect(usage(() => secondsOption(value, '--min-valid'))).toBe(
        `--min-valid must be a number of seconds (0 or more), got "${value}"`,
      );
    }
    expect(usage(() => secondsOption('0', '--timeout', { positive: true }))).toBe(
      '--timeout must be a positive number of seconds, got "0"',
    );
  });

  it('whole numbers, in a range', () => {
    expect(wholeNumberOption('20', '--attempts', { min: 1, max: 20 })).toBe(20);
    expect(usage(() => wholeNumberOption('21', '--attempts', { min: 1, max: 20 }))).toBe(
      '--attempts must be a whole number from 1 to 20, got "21"',
    );
    expect(usage(() => wholeNumberOption('1.5', '--limit'))).toBe(
      '--limit must be a positive whole number, got "1.5"',
    );
    expect(usage(() => wholeNumberOption('', '--limit'))).toBe(
      '--limit must be a positive whole number, got ""',
    );
  });

  it('ports: 0 (any free one) to 65535', () => {
    expect(portOption('0', '--port')).toBe(0);
    expect(portOption('65535', '--port')).toBe(65535);
    for (const value of ['', '-1', '65536', '80.5', 'x']) {
      expect(usage(() => portOption(value, '--port'))).toBe(
        `--port must be a port number from 0 (any free port) to 65535, got "${value}"`,
      );
    }
  });

  it('help texts show a default as commander would', () => {
    expect(withDefault('give up after this long', 30)).toBe('give up after this long (default: "30")');
  });
});
