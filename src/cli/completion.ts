/**
 * Shell completion scripts for bash, zsh and fish, generated from the program's command tree (every command,
 * subcommand and option with its description and allowed values), so they can never list a command or flag
 * that does not exist. All three walk the words typed so far to find the command path (`api-key create`),
 * skipping the values of options that take one, then offer that command's subcommands, options, or the
 * allowed values of the option being completed.
 */
import type { Command, Option } from 'commander';

export const shells = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof shells)[number];

interface OptionSpec {
  flags: string[];
  takesValue: boolean;
  choices: readonly string[];
  description: string;
}

interface NodeSpec {
  /** Command names from the root, space-separated ('' for the root). */
  path: string;
  subcommands: { name: string; description: string }[];
  /** The allowed values of its first argument, if it has a fixed set (`completion <shell>`). */
  values: { name: string; description: string }[];
  options: OptionSpec[];
}

function optionSpec(option: Option): OptionSpec {
  return {
    flags: [option.long, option.short].filter((flag): flag is string => Boolean(flag)),
    takesValue: option.required || option.optional,
    choices: option.argChoices ?? [],
    description: option.description,
  };
}

/** Every command path of the tree with what may follow it. */
export function completionTree(program: Command): NodeSpec[] {
  const help = program.createHelp();
  const nodes: NodeSpec[] = [];
  const visit = (command: Command, path: string, inherited: OptionSpec[]) => {
    const own = help.visibleOptions(command).map(optionSpec);
    const globals = inherited.filter((g) => !own.some((o) => o.flags.some((flag) => g.flags.includes(flag))));
    const subcommands = help.visibleCommands(command);
    nodes.push({
      path,
      subcommands: subcommands.map((sub) => ({
        name: sub.name(),
        description: sub.summary() || sub.description(),
      })),
      values: (command.registeredArguments[0]?.argChoices ?? []).map((value) => ({
        name: value,
        description: command.registeredArguments[0]?.description ?? '',
      })),
      options: [...own, ...globals],
    });
    const passedOn = [...own, ...globals].filter((o) => !o.flags.includes('--help'));
    for (const sub of subcommands) {
      const subPath = path ? `${path} ${sub.name()}` : sub.name();
      if (sub.name() === 'help' && !command.commands.includes(sub)) {
        // commander's implicit `help [command]`: completes the names of its siblings.
        nodes.push({
          path: subPath,
          subcommands: command.commands.map((c) => ({ name: c.name(), description: c.description() })),
          values: [],
          options: passedOn,
        });
      } else {
        visit(sub, subPath, passedOn);
      }
    }
  };
  visit(program, '', []);
  return nodes;
}

/** A single-quoted shell word (bash, zsh and fish all read '…' literally; a ' inside is closed and escaped). */
function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "'\\''")}'`;
}

/** fish reads \\ and \' inside single quotes; bash and zsh read neither. */
function fishQuote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

const valued = (node: NodeSpec) => node.options.filter((o) => o.takesValue).flatMap((o) => o.flags);

function bashScript(name: string, nodes: NodeSpec[]): string {
  const fn = `_${name.replace(/\W/g, '_')}`;
  const nodeCases = nodes.map(
    (node) =>
      `    ${quote(node.path)}) subs=${quote(node.subcommands.map((s) => s.name).join(' '))}; values=${quote(
        node.values.map((v) => v.name).join(' '),
      )}; opts=${quote(
        node.options.flatMap((o) => o.flags).join(' '),
      )}; valued=${quote(` ${valued(node).join(' ')} `)} ;;`,
  );
  const choiceCases = nodes.flatMap((node) =>
    node.options
      .filter((o) => o.choices.length > 0)
      .flatMap((o) =>
        o.flags.map((flag) => `    ${quote(`${node.path}|${flag}`)}) echo ${quote(o.choices.join(' '))} ;;`),
      ),
  );
  return `# bash completion for ${name}. Load it with: source <(${name} completion bash)
# or save it as /etc/bash_completion.d/${name} (or ~/.local/share/bash-completion/completions/${name}).

${fn}_node() {
  # $1: a command path; sets subs (its subcommands), values (its argument's allowed values), opts (its options),
  # valued (options that take a value)
  case "$1" in
${nodeCases.join('\n')}
    *) subs=''; values=''; opts=''; valued=' ' ;;
  esac
}

${fn}_choices() {
  # $1: a command path, $2: an option; prints the option's allowed values
  case "$1|$2" in
${choiceCases.join('\n')}
  esac
}

${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmdpath="" word i subs values opts valued choices
  ${fn}_node ""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if [[ $word == -* ]]; then
      if [[ $word != *=* && $valued == *" $word "* ]]; then
        ((i + 1 == COMP_CWORD)) && prev="$word"
        ((i++))
      fi
    elif [[ " $subs " == *" $word "* ]]; then
      cmdpath="\${cmdpath:+$cmdpath }$word"
      ${fn}_node "$cmdpath"
    fi
  done
  if [[ -n $prev ]]; then
    choices="$(${fn}_choices "$cmdpath" "$prev")"
    if [[ -n $choices ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "$subs $values" -- "$cur")
  fi
}

complete -F ${fn} ${name}
`;
}

function zshScript(name: string, nodes: NodeSpec[]): string {
  const fn = `_${name.replace(/\W/g, '_')}`;
  const described = (entries: { name: string; description: string }[]) =>
    entries.map((e) => quote(`${e.name.replaceAll(':', '\\:')}:${oneLine(e.description)}`)).join(' ');
  const nodeCases = nodes.map((node) => {
    const options = node.options.flatMap((o) =>
      o.flags.map((flag) => ({ name: flag, description: o.description })),
    );
    return `    ${quote(node.path)}) subnames=(${node.subcommands.map((s) => quote(s.name)).join(' ')}); subs=(${described(
      [...node.subcommands, ...node.values],
    )}); opts=(${described(options)}); valued=(${valued(node).map(quote).join(' ')}) ;;`;
  });
  const choiceCases = nodes.flatMap((node) =>
    node.options
      .filter((o) => o.choices.length > 0)
      .flatMap((o) =>
        o.flags.map(
          (flag) => `    ${quote(`${node.path}|${flag}`)}) choices=(${o.choices.map(quote).join(' ')}) ;;`,
        ),
      ),
  );
  return `#compdef ${name}
# zsh completion for ${name}. Load it with: source <(${name} completion zsh)
# or save it as _${name} in a directory on your $fpath (before compinit runs).

${fn}_node() {
  # $1: a command path; sets subnames/subs (its subcommands), opts (its options), valued (options that take a value)
  case "$1" in
${nodeCases.join('\n')}
    *) subnames=(); subs=(); opts=(); valued=() ;;
  esac
}

${fn}() {
  local -a subnames subs opts valued choices
  local cmdpath='' word prev='' i
  ${fn}_node ''
  for (( i = 2; i < CURRENT; i++ )); do
    word="\${words[i]}"
    if [[ $word == -* ]]; then
      if [[ $word != *=* ]] && (( \${valued[(Ie)$word]} )); then
        (( i + 1 == CURRENT )) && prev="$word"
        (( i++ ))
      fi
    elif (( \${subnames[(Ie)$word]} )); then
      cmdpath="\${cmdpath:+$cmdpath }$word"
      ${fn}_node "$cmdpath"
    fi
  done
  if [[ -n $prev ]]; then
    choices=()
    case "$cmdpath|$prev" in
${choiceCases.join('\n')}
    esac
    if (( \${#choices} )); then compadd -a choices; else _files; fi
  elif [[ \${words[CURRENT]} == -* ]]; then
    _describe -t options option opts
  else
    _describe -t commands command subs
  fi
}

if [[ "\${funcstack[1]}" == "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${name}
fi
`;
}

function fishScript(name: string, nodes: NodeSpec[]): string {
  const fn = `__${name.replace(/\W/g, '_')}`;
  const lines: string[] = [];
  for (const node of nodes) {
    const at = `-n ${fishQuote(`${fn}_at ${fishQuote(node.path)}`)}`;
    for (const sub of [...node.subcommands, ...node.values]) {
      lines.push(
        `complete -c ${name} ${at} -a ${fishQuote(sub.name)} -d ${fishQuote(oneLine(sub.description))}`,
      );
    }
    for (const option of node.options) {
      const flags = option.flags.map((flag) =>
        flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`,
      );
      const value =
        option.choices.length > 0
          ? `-x -a ${fishQuote(option.choices.join(' '))}`
          : option.takesValue
            ? '-r -F'
            : '';
      lines.push(
        [`complete -c ${name} ${at}`, ...flags, value, `-d ${fishQuote(oneLine(option.description))}`]
          .filter(Boolean)
          .join(' '),
      );
    }
  }
  const nodeCases = nodes.map(
    (node) =>
      `        case ${fishQuote(node.path)}\n            set subs ${node.subcommands.map((s) => fishQuote(s.name)).join(' ')}\n            set valued ${valued(node).map(fishQuote).join(' ')}`,
  );
  return `# fish completion for ${name}. Load it with: ${name} completion fish | source
# or save it as ~/.config/fish/completions/${name}.fish

function ${fn}_path --description 'the ${name} command path of the words typed so far'
    set -l words (commandline -opc)
    set -l cmdpath ''
    set -l skip 0
    for word in $words[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        set -l subs
        set -l valued
        switch $cmdpath
${nodeCases.join('\n')}
        end
        if string match -q -- '-*' $word
            if not string match -q -- '*=*' $word; and contains -- $word $valued
                set skip 1
            end
        else if contains -- $word $subs
            set cmdpath (string trim -- "$cmdpath $word")
        end
    end
    echo $cmdpath
end

function ${fn}_at --description 'whether the words typed so far are exactly this ${name} command path'
    set -l cmdpath (${fn}_path)
    test "$cmdpath" = "$argv[1]"
end

complete -c ${name} -f
${lines.join('\n')}
`;
}

export function completionScript(shell: Shell, program: Command): string {
  const nodes = completionTree(program);
  const name = program.name();
  if (shell === 'bash') return bashScript(name, nodes);
  if (shell === 'zsh') return zshScript(name, nodes);
  return fishScript(name, nodes);
}
