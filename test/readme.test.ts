/**
 * The README says only what is true: every command and flag it documents exists, its config example loads with
 * the real config loader, its Node version is package.json's `engines`, every TOKENKEEPER_* variable it names
 * is read by the code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/program.ts';
import { validateConfig } from '../src/config/load.ts';
import { runIsolated } from './cli/harness.ts';
import { repoRoot } from './cli/run-cli.ts';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

/** The text from a `## heading` line to the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no "${heading}" section`);
  const level = heading.split(' ')[0] ?? '##';
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`^#{1,${level.length}} `, 'm'));
  return end < 0 ? rest : rest.slice(0, end);
}

const commandsSection = section('## Commands');
/** First cells of the commands table, without backticks, `\|` unescaped. */
const tableRows = commandsSection
  .split('\n')
  .filter((line) => line.startsWith('| `'))
  .map((line) => (line.match(/^\| `((?:[^`])*)`/)?.[1] ?? '').replaceAll('\\|', '|'));
/** Every inline code span of the Commands section (rows, the "Also:" line, the global options line). */
const codeSpans = [...commandsSection.replace(/^\| `[^\n]*$/gm, '').matchAll(/`([^`\n]+)`/g)].map(
  (match) => match[1] ?? '',
);

/** The long flags a command (or one of its subcommands) accepts, with the global ones. */
function flagsOf(program: Command, name: string): Set<string> {
  const command = program.commands.find((c) => c.name() === name);
  const flags = new Set(['--help', ...program.options.map((o) => o.long ?? '')]);
  const collect = (c: Command) => {
    for (const option of c.options) if (option.long) flags.add(option.long);
    c.commands.forEach(collect);
  };
  if (command) collect(command);
  return flags;
}

describe('README', () => {
  it('its commands table names only commands that `tokenkeeper --help` lists', async ({ onTestFinished }) => {
    const help = await runIsolated(['--help'], onTestFinished);
    expect(help.code).toBe(0);
    const listed = new Set([...help.stdout.matchAll(/^ {2}([a-z][a-z-]*) {2,}/gm)].map((match) => match[1]));
    expect(tableRows.length).toBeGreaterThan(10);
    for (const row of tableRows) expect(listed, `README row \`${row}\``).toContain(row.split(' ')[0]);
  });

  it('documents only flags its commands have', async () => {
    const program = await buildProgram('all');
    const commands = new Set(program.commands.map((c) => c.name()));
    const documented = [...tableRows, ...codeSpans].filter(
      (text) => commands.has(text.split(' ')[0] ?? '') || text.startsWith('--'),
    );
    const anyCommand = new Set(program.commands.flatMap((c) => [...flagsOf(program, c.name())]));
    for (const text of documented) {
      // A bare flag (`--basic-credentials` in a sentence) belongs to some command; a command's to that one.
      const flags = text.startsWith('--') ? anyCommand : flagsOf(program, text.split(' ')[0] ?? '');
      for (const flag of text.match(/--[a-z][a-z-]*/g) ?? []) {
        expect(flags, `README: \`${text}\` documents ${flag}`).toContain(flag);
      }
    }
  });

  it('its config example loads with the real config loader', () => {
    const example = section('## Configuration').match(/```json\n([\s\S]*?)\n```/)?.[1];
    expect(example).toBeDefined();
    const config = validateConfig(JSON.parse(example ?? ''), 'README config example');
    expect(Object.keys(config).sort()).toEqual(Object.keys(JSON.parse(example ?? '{}')).sort());
  });

  it("states package.json's Node version", () => {
    const { engines } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const minimum = /^>=\s*(\d+\.\d+)$/.exec(engines.node)?.[1];
    expect(minimum, `engines.node ${engines.node}`).toBeDefined();
    expect(readme).toContain(`Node.js ≥ ${minimum}`);
    expect(readme).not.toMatch(/Node\.js ≥ (?!\d+\.\d+ \(`engines`)/);
  });

  it('names only TOKENKEEPER_* variables the code reads', () => {
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory()
          ? sources(join(dir, entry.name))
          : entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')
            ? [readFileSync(join(dir, entry.name), 'utf8')]
            : [],
      );
    const code = sources(join(repoRoot, 'src')).join('\n');
    const named = new Set(readme.match(/TOKENKEEPER_[A-Z_]+/g));
    expect(named.size).toBeGreaterThan(5);
    for (const variable of named) expect(code, variable).toContain(variable);
  });
});
