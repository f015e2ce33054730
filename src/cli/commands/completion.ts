import { type Command, Argument } from 'commander';
import { completionScript, shells, type Shell } from '../completion.ts';
import { commandAction } from '../context.ts';
import type { CliIo } from '../io.ts';

export async function runCompletion(options: { shell: Shell }, io: CliIo): Promise<void> {
  // The script lists every command's options, so here (only here) every command module is loaded.
  const { buildProgram } = await import('../program.ts');
  io.stdout.write(completionScript(options.shell, await buildProgram('all')));
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: tokenkeeper completion bash|zsh|fish')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(shells))
    .addHelpText(
      'after',
      `
Load it in the current shell, or add the line to your shell's start-up file:
  bash:  source <(tokenkeeper completion bash)        (~/.bashrc)
  zsh:   source <(tokenkeeper completion zsh)         (~/.zshrc, after compinit)
  fish:  tokenkeeper completion fish | source         (~/.config/fish/config.fish)`,
    )
    .action(commandAction((shell: Shell) => ({ shell }), runCompletion));
}
