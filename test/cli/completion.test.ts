import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { expectSuccess, runIsolated, tempHome, type OnFinished } from './harness.ts';

const exec = promisify(execFile);

/** `tokenkeeper completion <shell>` from the real CLI, saved to a file the shell can source. */
async function completionFile(shell: string, onFinished: OnFinished): Promise<string> {
  const result = expectSuccess(await runIsolated(['completion', shell], onFinished));
  const path = join(tempHome(onFinished), `tokenkeeper.${shell}`);
  writeFileSync(path, result.stdout);
  return path;
}

async function shellOutput(shell: string, script: string): Promise<string> {
  try {
    const { stdout } = await exec(shell, ['-c', script], {
      env: { PATH: process.env.PATH },
      timeout: 10_000,
    });
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `${shell} is not installed: apt-get install -y ${shell} (\`npm test\` does it as root)`,
        { cause: error },
      );
    }
    throw error;
  }
}

const words = (output: string) => output.split('\n').filter(Boolean);

describe.concurrent('tokenkeeper completion', () => {
  it('bash: completes commands, subcommands, options and option values by prefix', async ({
    onTestFinished,
  }) => {
    const file = await completionFile('bash', onTestFinished);
    const complete = async (...line: string[]) =>
      words(
        await shellOutput(
          'bash',
          `source ${file}
COMP_WORDS=(${line.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${line.length - 1}
_tokenkeeper; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ),
      );
    expect(await shellOutput('bash', `source ${file}; complete -p tokenkeeper`)).toBe(
      'complete -F _tokenkeeper tokenkeeper\n',
    );
    expect(await complete('tokenkeeper', 'to')).toEqual(['token']);
    expect(await complete('tokenkeeper', 're')).toEqual(['refresh', 'remove']);
    expect(await complete('tokenkeeper', '--store', 'x.db', 'api-key', '')).toEqual([
      'create',
      'list',
      'revoke',
      'help',
    ]);
    expect(await complete('tokenkeeper', 'api-key', 'create', '--s')).toEqual(['--scope', '--store']);
    expect(await complete('tokenkeeper', 'token', 'me', '--log-level', 'w')).toEqual(['warn']);
    expect(await complete('tokenkeeper', 'completion', '')).toEqual(['bash', 'zsh', 'fish']);
    expect(await complete('tokenkeeper', 'help', 'ap')).toEqual(['api-key']);
  });

  it('zsh: offers the same words with their descriptions', async ({ onTestFinished }) => {
    const file = await completionFile('zsh', onTestFinished);
    // compsys's builtins print what they were given; the script's own logic runs in a real zsh.
    const complete = async (...line: string[]) =>
      words(
        await shellOutput(
          'zsh',
          `_describe() { print -rl -- "\${(@P)\${@[-1]}}" }
compadd() { print -rl -- "\${(@P)\${@[-1]}}" }
compdef() { print -r -- "compdef $*" }
source ${file}
words=(${line.map((word) => `'${word}'`).join(' ')}); CURRENT=${line.length}
_tokenkeeper`,
        ),
      );
    const [registered, ...commands] = await complete('tokenkeeper', '');
    expect(registered).toBe('compdef _tokenkeeper tokenkeeper');
    expect(commands).toContain(
      'token:print a valid access token, for: curl -H "Authorization: Bearer $(tokenkeeper token me)". A usable stored token is printed at once (a due renewal runs after, bounded); an expired one is refreshed first',
    );
    expect((await complete('tokenkeeper', 'webhook', '')).slice(1)).toEqual([
      'test:send a test webhook to every configured endpoint (or to --url), in its format, and report the answers',
      'secret:print a new whsec_ signing secret for a webhook endpoint and its receiver',
      expect.stringMatching(/^log:show recent webhook delivery attempts/),
      'help:display help for command',
    ]);
    expect((await complete('tokenkeeper', 'refresh', '--')).slice(1)).toContain(
      '--force:refresh even if the access token is not due yet, or the provider was retired',
    );
    expect((await complete('tokenkeeper', '--log-format', '')).slice(1)).toEqual(['json', 'pretty']);
  });

  it('fish: completes by prefix with descriptions', async ({ onTestFinished }) => {
    const file = await completionFile('fish', onTestFinished);
    const complete = async (line: string) =>
      words(await shellOutput('fish', `source ${file}; complete -C '${line}'`));
    expect(await complete('tokenkeeper to')).toEqual([
      'token\tprint a valid access token, for: curl -H "Authorization: Bearer $(tokenkeeper token me)". A usable stored token is printed at once (a due renewal runs after, bounded); an expired one is refreshed first',
    ]);
    expect(await complete('tokenkeeper --store x.db api-key c')).toEqual([
      'create\tcreate an API key; it is printed once and cannot be shown again',
    ]);
    expect(await complete('tokenkeeper refresh --f')).toEqual([
      '--force\trefresh even if the access token is not due yet, or the provider was retired',
    ]);
    expect((await complete('tokenkeeper --log-level ')).map((line) => line.split('\t')[0])).toEqual([
      'debug',
      'error',
      'info',
      'silent',
      'warn',
    ]);
  });

  it('--help explains how to load it; an unknown shell is a usage error', async ({ onTestFinished }) => {
    const help = expectSuccess(await runIsolated(['completion', '--help'], onTestFinished));
    expect(help.stdout).toMatch(/^Usage: tokenkeeper completion \[options\] <shell>/);
    expect(help.stdout).toContain('source <(tokenkeeper completion bash)');
    const bad = await runIsolated(['completion', 'tcsh'], onTestFinished);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/'tcsh' is invalid .* bash, zsh, fish/);
  });
});
