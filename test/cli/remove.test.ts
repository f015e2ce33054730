import { describe, expect, it } from 'vitest';
import { createHarness, DEFAULT_USER, expectSuccess, lines } from './harness.ts';
import { startInTerminal } from './terminal.ts';

const statusNames = async (h: Awaited<ReturnType<typeof createHarness>>) =>
  (JSON.parse(expectSuccess(await h.cli(['status', '--json'])).stdout) as { name: string }[]).map(
    (c) => c.name,
  );

describe.concurrent('tokenkeeper remove: confirmation', () => {
  it('asks on a terminal and removes only after "y"', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    await h.addConnection('other', 'USER02');
    const terminalArgs = ['--config', h.configPath, '--log-format', 'json'];

    const declined = startInTerminal([...terminalArgs, 'remove', 'me'], h.env, h.home);
    await declined.waitFor(/Remove connection me \(fitbit, USER01\)\? \[y\/N\] $/);
    declined.type('\n');
    const no = await declined.done;
    expect(no.code).toBe(1);
    expect(no.output).toMatch(/me: not removed/);
    expect(await statusNames(h)).toEqual(['me', 'other']);

    const accepted = startInTerminal([...terminalArgs, 'remove', 'me', '--revoke'], h.env, h.home);
    await accepted.waitFor(/Revoke the tokens of and remove connection me \(fitbit, USER01\)\? \[y\/N\] $/);
    accepted.type('y\n');
    const yes = await accepted.done;
    expect(yes.code).toBe(0);
    expect(yes.output).toMatch(/me: removed \(tokens revoked at the provider\)/);
    expect(h.sim.activeRefreshToken(DEFAULT_USER)).toBeUndefined();
    expect(await statusNames(h)).toEqual(['other']);
  });

  it('refuses without a terminal unless --yes is given, and never waits for input', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    // stdin stays open: without the check, the command would wait for an answer until the test times out.
    const refused = await h.cli(['remove', 'me'], { keepStdinOpen: true });
    expect(refused.code).toBe(2);
    expect(lines(refused.stderr)).toEqual([
      'tokenkeeper: error: Remove connection me (fitbit, USER01): not confirmed (standard input is not a terminal); pass --yes to do it without asking',
    ]);
    expect(await statusNames(h)).toEqual(['me']);

    const forced = expectSuccess(await h.cli(['remove', 'me', '-y'], { stdin: 'n\n' }));
    expect(forced.stdout).toBe('me: removed\n');
    expect(await statusNames(h)).toEqual([]);

    // An unknown name is reported as such before any question.
    const unknown = await h.cli(['remove', 'me']);
    expect(unknown.code).toBe(2);
    expect(lines(unknown.stderr)).toEqual(['tokenkeeper: error: no connection named "me"']);
  });
});
