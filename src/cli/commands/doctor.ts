import type { Command } from 'commander';
import { doctorExitCode, type CheckResult, type CheckStatus } from '../../doctor/check.ts';
import { runDoctor } from '../../doctor/run-doctor.ts';
import { paint, type Tone } from '../colour.ts';
import { commandAction } from '../context.ts';
import type { CliIo, CommandResult } from '../io.ts';
import { secondsOption, withDefault } from '../option-values.ts';
import { printJson } from '../output.ts';

const label: Record<CheckStatus, { text: string; tone: Tone }> = {
  ok: { text: 'ok', tone: 'ok' },
  warn: { text: 'warn', tone: 'warn' },
  fail: { text: 'FAIL', tone: 'bad' },
  skip: { text: 'skip', tone: 'dim' },
};

function line(result: CheckResult, io: CliIo): string {
  const { text, tone } = label[result.status];
  const fix = result.fix && result.status !== 'ok' ? ` — fix: ${result.fix}` : '';
  return `${paint(text.padEnd(4), tone, io.stdout, io.env)}  ${result.title}: ${result.message}${fix}\n`;
}

export interface DoctorCliOptions {
  /** Skip the DNS/TLS checks of the token endpoints. */
  offline: boolean;
  /** Time limit of each network check. */
  timeoutSeconds: number;
  json: boolean;
}

interface DoctorFlags {
  offline?: boolean;
  timeout?: string;
  json?: boolean;
}

export const doctorDefaults = { timeoutSeconds: 5 };

export function doctorOptions(flags: DoctorFlags): DoctorCliOptions {
  return {
    offline: flags.offline ?? false,
    timeoutSeconds:
      flags.timeout === undefined
        ? doctorDefaults.timeoutSeconds
        : secondsOption(flags.timeout, '--timeout', { positive: true }),
    json: flags.json ?? false,
  };
}

export async function runDoctorCommand(options: DoctorCliOptions, io: CliIo): Promise<CommandResult> {
  const results = await runDoctor({
    config: io.globals.config,
    store: io.globals.store,
    env: io.env,
    offline: options.offline,
    timeoutMs: options.timeoutSeconds * 1000,
    report: options.json ? undefined : (result) => io.stdout.write(line(result, io)),
  });
  const code = doctorExitCode(results);
  if (options.json) {
    printJson(io, {
      ok: code === 0,
      checks: results.map(({ id, title, status, message, fix }) => ({ id, title, status, message, fix })),
    });
  } else {
    const failed = results.filter((result) => result.status === 'fail').length;
    const warned = results.filter((result) => result.status === 'warn').length;
    io.stdout.write(
      failed
        ? `${failed} problem${failed === 1 ? '' : 's'} to fix${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}.\n`
        : `All checks passed${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}.\n`,
    );
  }
  return code;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the set-up and say what to fix: Node, config, data dir, key, store, providers (and their token endpoints), daemon port; changes nothing',
    )
    .option('--offline', 'skip the DNS/TLS checks of the token endpoints')
    .option(
      '--timeout <seconds>',
      withDefault('time limit of each network check', doctorDefaults.timeoutSeconds),
    )
    .option('--json', 'print JSON: {"ok": …, "checks": [{"id", "title", "status", "message", "fix"}]}')
    .action(commandAction(doctorOptions, runDoctorCommand));
}
