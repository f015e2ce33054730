import { describe, expect, it } from 'vitest';
import { createHarness, expectSuccess, humanLines, type Harness } from './harness.ts';

async function createKey(h: Harness, scope: string): Promise<{ key: string; id: string; stderr: string }> {
  const created = expectSuccess(await h.cli(['api-key', 'create', '--scope', scope]));
  const key = created.stdout.trim();
  return { key, id: key.slice(4, 16), stderr: created.stderr };
}

async function keyStates(h: Harness): Promise<Record<string, 'active' | 'revoked'>> {
  const listed = JSON.parse(expectSuccess(await h.cli(['api-key', 'list', '--json'])).stdout) as Array<{
    id: string;
    revokedAt: string | null;
  }>;
  return Object.fromEntries(listed.map((k) => [k.id, k.revokedAt === null ? 'active' : 'revoked']));
}

describe.concurrent('tokenkeeper api-key', () => {
  it('revoke takes the whole key as well as its id, and never prints the key', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const first = await createKey(h, '*');
    const second = await createKey(h, '*');
    const secretOf = (key: string) => key.slice(17);

    const byKey = expectSuccess(await h.cli(['api-key', 'revoke', first.key]));
    expect(byKey.stdout).toBe(`API key ${first.id} revoked\n`);
    const fromStdin = expectSuccess(await h.cli(['api-key', 'revoke', '-'], { stdin: `${second.key}\n` }));
    expect(fromStdin.stdout).toBe(`API key ${second.id} revoked\n`);
    expect(await keyStates(h)).toEqual({ [first.id]: 'revoked', [second.id]: 'revoked' });

    const third = await createKey(h, '*');
    const wrongSecret = `tkk_${third.id}_${secretOf(first.key)}`;
    const unknownId = `tkk_ffffffffffff_${secretOf(third.key)}`;
    const cutShort = third.key.slice(0, 30);
    const refusals = [
      [wrongSecret, `no API key matches the key given (tkk_${third.id}_…): unknown id or wrong secret`],
      [unknownId, 'no API key matches the key given (tkk_ffffffffffff_…): unknown id or wrong secret'],
      [cutShort, 'the text given is not a whole API key (tkk_<id>_<secret>): pass the whole key, or its id'],
    ] as const;
    for (const [given, message] of refusals) {
      const refused = await h.cli(['api-key', 'revoke', given]);
      expect(refused.code).toBe(2);
      expect(humanLines(refused.stderr)).toEqual([
        `tokenkeeper: error: ${message}${message.endsWith('its id') ? ' (see `tokenkeeper api-key list`)' : '; see `tokenkeeper api-key list`'}`,
      ]);
    }
    // Nothing else was revoked by a key that does not match, and no run printed any secret part of a key.
    expect((await keyStates(h))[third.id]).toBe('active');
    for (const result of h.results) {
      for (const key of [first.key, second.key, third.key]) {
        const output = result.args.includes('create') ? result.stderr : `${result.stdout}${result.stderr}`;
        expect(output).not.toContain(secretOf(key));
        expect(output).not.toContain(secretOf(key).slice(0, 12));
      }
    }
  });

  it('create warns when a scope names no connection, and creates the key anyway', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('fitbit');
    const typo = await createKey(h, 'fitbt');
    expect(typo.key).toMatch(/^tkk_[0-9a-f]{12}_/);
    expect(humanLines(typo.stderr)).toEqual([
      `API key ${typo.id} created for fitbt. Store it now: it cannot be shown again.`,
      `tokenkeeper: warning: no connection named "fitbt" exists: the key was created anyway and will work for it once added (check the spelling with \`tokenkeeper status\`, or revoke the key with \`tokenkeeper api-key revoke ${typo.id}\`)`,
    ]);
    expect(await keyStates(h)).toMatchObject({ [typo.id]: 'active' });
    for (const scope of ['fitbit', '*']) {
      const fine = await createKey(h, scope);
      expect(fine.stderr).not.toContain('warning');
    }
  });

  it('revoke --help names the new argument', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    const revoke = expectSuccess(await h.cli(['api-key', 'revoke', '--help']));
    expect(revoke.stdout).toMatch(/^Usage: tokenkeeper api-key revoke \[options\] <id\|key>$/m);
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    expect(flat(revoke.stdout)).toContain('the whole key, or - to read the key from stdin');
  });
});
