import { describe, expect, it } from 'vitest';
import { createHarness } from './harness.ts';
import { startInTerminal } from './terminal.ts';

const ESC = '\u001b[';
const green = (text: string) => `${ESC}32m${text}${ESC}0m`;
const red = (text: string) => `${ESC}31m${text}${ESC}0m`;

describe.concurrent('colour', () => {
  it('colours statuses and "error:" on a terminal, and not with NO_COLOR or when piped', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    await h.addConnection('gone', 'USER02');
    h.seed({ userId: 'USER02' }); // the stored refresh token of "gone" is no longer valid
    expect((await h.cli(['refresh', 'gone', '--force'])).code).toBe(3);
    const args = ['--config', h.configPath, '--log-format', 'json'];

    const coloured = await startInTerminal([...args, 'status'], h.env, h.home).done;
    expect(coloured.code).toBe(3); // "gone" needs a human

    expect(coloured.output).toContain(green('active'));
    expect(coloured.output).toContain(red('needs_reauth'));
    // Columns stay aligned: the plain text of every row starts its STATUS column at the header's offset.
    const plainLines = coloured.output
      .split(ESC)
      .map((part, i) => (i === 0 ? part : part.replace(/^\d+m/, '')))
      .join('')
      .split(/\r?\n/);
    const header = plainLines.find((line) => line.startsWith('NAME'))!;
    const column = header.indexOf('STATUS');
    expect(plainLines.find((line) => line.startsWith('me '))!.slice(column)).toMatch(/^active /);
    expect(plainLines.find((line) => line.startsWith('gone '))!.slice(column)).toMatch(/^needs_reauth /);

    const doctor = await startInTerminal([...args, 'doctor', '--offline'], h.env, h.home).done;
    expect(doctor.output).toContain(`${green('ok  ')}  node: `);

    const error = await startInTerminal([...args, 'token', 'nobody'], h.env, h.home).done;
    expect(error.code).toBe(2);
    expect(error.output).toContain(`tokenkeeper: ${red('error:')} no connection named "nobody"`);

    for (const noColor of ['1', 'yes']) {
      const plain = await startInTerminal([...args, 'status'], { ...h.env, NO_COLOR: noColor }, h.home).done;
      expect(plain.output).toMatch(/needs_reauth/);
      expect(plain.output).not.toContain(ESC);
    }
    const noColorError = await startInTerminal(
      [...args, 'token', 'nobody'],
      { ...h.env, NO_COLOR: '1' },
      h.home,
    ).done;
    expect(noColorError.output).toContain('tokenkeeper: error: no connection named "nobody"');

    const piped = await h.cli(['status']);
    expect(piped.code).toBe(3);
    expect(piped.stdout).toMatch(/needs_reauth/);
    expect(piped.stdout).not.toContain(ESC);
    const pipedError = await h.cli(['token', 'nobody']);
    expect(pipedError.stderr).not.toContain(ESC);

    const forced = await h.cli(['status'], { env: { FORCE_COLOR: '1' } });
    expect(forced.code).toBe(3);
    expect(forced.stdout).toContain(green('active'));
  });
});
