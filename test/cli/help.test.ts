import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/cli/command-table.ts';
import { runIsolated as run } from './harness.ts';
import { cliEntry } from './run-cli.ts';

describe.concurrent('tokenkeeper --help', () => {
  const commands = commandTable.map((entry) => entry.name);

  it('lists the commands a new user needs first', () => {
    for (const command of ['connect', 'add', 'refresh', 'token', 'status', 'remove', 'run', 'demo']) {
      expect(commands).toContain(command);
    }
  });

  it('main help lists every command and the exit codes', async ({ onTestFinished }) => {
    const result = await run(['--help'], onTestFinished);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    for (const command of commands) expect(result.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    // Each with the start of its description (the rest may wrap).
    for (const { name, description } of commandTable) {
      const start = description.split(' ').slice(0, 3).join(' ');
      expect(result.stdout).toMatch(
        new RegExp(`^ {2}${name} +${start.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'),
      );
    }
    expect(result.stdout).toMatch(/^Exit codes:$/m);
    for (const code of [0, 1, 2, 3, 4, 5, 6]) {
      expect(result.stdout).toMatch(new RegExp(`^ {2}${code} {2}\\S`, 'm'));
    }
  });

  it.for(commands)('%s --help exits 0 and shows its usage', async (command, { onTestFinished }) => {
    const result = await run([command, '--help'], onTestFinished);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: tokenkeeper ${command} `));
    expect(result.stdout).toMatch(/-h, --help/);
  });

  it('help <command> and --version work', async ({ onTestFinished }) => {
    const help = await run(['help', 'refresh'], onTestFinished);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tokenkeeper refresh /);
    const version = await run(['--version'], onTestFinished);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('ends quietly when the reader closes the pipe early (`tokenkeeper --help | head -1`)', async () => {
    // The reader is gone before the CLI writes its first byte (it takes far longer to start than this takes).
    const child = spawn(process.execPath, [cliEntry, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
