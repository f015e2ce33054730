import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LogFormat } from '../../src/logging.ts';

const SECRET = 'rt_this-must-never-be-printed';

function logged(format: LogFormat, fields: object): string {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  createLogger('debug', format, stream).warn(fields, 'a line');
  return text;
}

// Issue 11, defect 5: the pretty format dropped only top-level secret fields, so {nested:{refreshToken:…}} was
// printed in full while JSON (pino's paths) censored it. Both formats now log through one redaction.
describe.for<LogFormat>(['pretty', 'json'])('the %s log format', (format) => {
  it('censors secret fields at any depth, and nothing else', () => {
    const text = logged(format, {
      connection: 'me',
      refreshToken: SECRET,
      nested: { refreshToken: SECRET, kept: 'visible' },
      deeper: { list: [{ client_secret: SECRET }], inner: { Authorization: `Bearer ${SECRET}` } },
    });
    expect(text).toContain('a line');
    expect(text).toContain('visible');
    expect(text).toContain('me');
    expect(text).not.toContain(SECRET);
    expect(text.match(/\[redacted\]/g)).toHaveLength(4);
  });

  it('logs nothing below its level', () => {
    const stream = new PassThrough();
    let text = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    createLogger('error', format, stream).warn({ connection: 'me' }, 'quiet');
    expect(text).toBe('');
  });
});
