import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { runDemo } from '../../demo/run-demo.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'watch tokenkeeper keep a simulated Fitbit connection alive (no account needed; nothing is kept)',
    )
    .option('--duration <seconds>', 'how long to run', '20')
    .option('--lifetime <seconds>', 'access-token lifetime of the simulated provider', '6')
    .option('--chaos', 'inject a lost response and a 503 to show recovery')
    .option('--keep', 'keep the temporary store')
    .action(async (options: { duration: string; lifetime: string; chaos?: boolean; keep?: boolean }) => {
      const durationSeconds = positive(options.duration, '--duration');
      const lifetimeSeconds = positive(options.lifetime, '--lifetime');
      const result = await runDemo({
        durationSeconds,
        lifetimeSeconds,
        chaos: options.chaos ?? false,
        keep: options.keep ?? false,
        write: (line) => process.stdout.write(`${line}\n`),
      });
      if (result.invalidGrant > 0 || !result.apiCheck) process.exitCode = 1;
    });
}

function positive(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new TokenkeeperError('usage', `${flag} must be a positive number of seconds, got "${value}"`);
  }
  return number;
}
