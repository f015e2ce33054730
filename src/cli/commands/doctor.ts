import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { doctorExitCode, type CheckResult, type CheckStatus } from '../../doctor/check.ts';
import { runDoctor } from '../../doctor/run-doctor.ts';
import { paint, type Tone } from '../colour.ts';
import { globalsOf } from '../context.ts';
import { printJson } from '../output.ts';

const label: Record<CheckStatus, { text: string; tone: Tone }> = {
  ok: { text: 'ok', tone: 'ok' },
  warn: { text: 'warn', tone: 'warn' },
  fail: { text: 'FAIL', tone: 'bad' },
  skip: { text: 'skip', tone: 'dim' },
};

function line(result: CheckResult): string {
  const { text, tone } = label[result.status];
  const fix = result.fix && result.status !== 'ok' ? ` — fix: ${result.fix}` : '';
  return `${paint(text.padEnd(4), tone, process.stdout)}  ${result.title}: ${result.message}${fix}\n`;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the set-up and say what to fix: Node, config, data dir, key, store, providers (and their token endpoints), daemon port; changes nothing',
    )
    .option('--offline', 'skip the DNS/TLS checks of the token endpoints')
    .option('--timeout <seconds>', 'time limit of each network check', '5')
    .option('--json', 'print JSON: {"ok": …, "checks": [{"id", "title", "status", "message", "fix"}]}')
    .action(async (options: { offline?: boolean; timeout: string; json?: boolean }, command: Command) => {
      const timeoutSeconds = Number(options.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
        throw new TokenkeeperError(
          'usage',
          `--timeout must be a positive number of seconds, got "${options.timeout}"`,
        );
      }
      const globals = globalsOf(command);
      const results = await runDoctor({
        config: globals.config,
        store: globals.store,
        offline: options.offline ?? false,
        timeoutMs: timeoutSeconds * 1000,
        report: options.json ? undefined : (result) => process.stdout.write(line(result)),
      });
      const code = doctorExitCode(results);
      if (options.json) {
        printJson({
          ok: code === 0,
          checks: results.map(({ id, title, status, message, fix }) => ({ id, title, status, message, fix })),
        });
      } else {
        const failed = results.filter((result) => result.status === 'fail').length;
        const warned = results.filter((result) => result.status === 'warn').length;
        process.stdout.write(
          failed
            ? `${failed} problem${failed === 1 ? '' : 's'} to fix${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}.\n`
            : `All checks passed${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}.\n`,
        );
      }
      process.exitCode = code;
    });
}
