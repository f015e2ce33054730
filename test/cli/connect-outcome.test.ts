import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { approve, CONSENT_URL } from './consent.ts';
import {
  createHarness,
  DEFAULT_USER,
  expectSuccess,
  freePort,
  humanLines,
  SIM_TOKEN_PATTERN,
  statusJson,
  type Harness,
} from './harness.ts';

/** The connection's row as stored (every column, ciphertexts included): equal rows mean nothing was written. */
function storedRow(h: Harness, name: string): Record<string, unknown> | undefined {
  const db = new DatabaseSync(join(h.home, 'tokenkeeper.db'), { readOnly: true });
  try {
    return db.prepare('SELECT * FROM connections WHERE name = ?').get(name) as
      Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}

/** What a person reads on a page: the text of its elements, entities decoded, one line per element. */
function pageText(html: string): string[] {
  return html
    .split(/<[^>]+>/)
    .map((text) =>
      text
        .replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>')
        .replaceAll('&quot;', '"')
        .replaceAll('&#39;', "'")
        .replaceAll('&amp;', '&')
        .trim(),
    )
    .filter(Boolean);
}

/**
 * Starts `connect fitbit` on a free callback port, approves on the consent page as `account`, and delivers the
 * redirect like a browser: returns the callback page the browser got and the CLI's result.
 */
async function connectAs(h: Harness, args: string[], account?: string) {
  const port = await freePort();
  const cli = h.start([
    'connect',
    'fitbit',
    '--no-browser',
    '--port',
    String(port),
    '--timeout',
    '15',
    ...args,
  ]);
  const [, consentUrl] = await cli.waitFor(CONSENT_URL);
  const location = await approve(consentUrl as string, account);
  const callback = await fetch(location);
  const page = { status: callback.status, html: await callback.text() };
  // The browser's answer comes once the flow is over: the row is already what the CLI will report.
  const rowWhenAnswered = storedRow(
    h,
    args.includes('--name') ? (args[args.indexOf('--name') + 1] as string) : 'fitbit',
  );
  const result = await cli.done;
  return { page, result, rowWhenAnswered, code: new URL(location).searchParams.get('code') as string };
}

describe.concurrent('connect: the browser is told the real outcome', () => {
  it('says "Connected" only once the tokens are saved', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const { page, result, rowWhenAnswered } = await connectAs(h, []);
    expectSuccess(result);
    expect(page.status).toBe(200);
    expect(pageText(page.html)).toContain('Connected');
    expect(pageText(page.html)).toContain(
      `tokenkeeper saved the connection "fitbit" to Fitbit Web API (account ${DEFAULT_USER}).`,
    );
    expect(rowWhenAnswered).toMatchObject({ name: 'fitbit', provider_user_id: DEFAULT_USER });
  });

  it("shows the terminal's error when the code exchange fails, and saves nothing", async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    h.sim.inject({ kind: 'status', status: 503 });
    const { page, result, rowWhenAnswered, code } = await connectAs(h, []);
    expect(result.code).toBe(4);
    const [terminalError, ...rest] = humanLines(result.stderr).filter((line) => line.includes('error'));
    expect(rest).toEqual([]);
    expect(terminalError).toMatch(/^tokenkeeper: error: .*503/);
    expect(page.status).toBe(400);
    const text = pageText(page.html);
    expect(text).not.toContain('Connected');
    expect(text).toContain('Not connected');
    expect(text).toContain(terminalError);
    for (const output of [page.html, result.stdout, result.stderr]) {
      expect(output).not.toContain(code);
      expect(output).not.toMatch(SIM_TOKEN_PATTERN);
      for (const secret of h.secrets) expect(output).not.toContain(secret);
    }
    expect(rowWhenAnswered).toBeUndefined();
    expect(await statusJson(h)).toEqual([]);
  });
});
