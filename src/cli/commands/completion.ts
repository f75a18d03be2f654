import type { Command } from 'commander';
import { isResourceType, PUBLIC_PERMISSIONS, RESOURCE_TYPES } from '../../authz/schema.js';
import { EXIT, UsageError } from '../io.js';
import type { Runner } from './runner.js';

/**
 * `authz completion bash|zsh` prints a script that asks `authz __complete WORDS...` for the
 * candidates at each TAB: commands and options from the command tree itself, resource types
 * and each type's permission names for check, explain and lookup.
 */
const BASH = `# authz completion for bash: eval "$(authz completion bash)" in ~/.bashrc
_authz_complete() {
  local IFS=$'\\n'
  COMPREPLY=($(authz __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _authz_complete authz
`;

const ZSH = `#compdef authz
# authz completion for zsh: eval "$(authz completion zsh)" in ~/.zshrc (after compinit)
_authz() {
  local -a candidates
  candidates=("\${(@f)$(authz __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _authz authz
`;

const RESOURCE_ARGUMENT_COMMANDS = new Set(['check', 'explain', 'lookup subjects']);

/** The candidates for the last of `words` (the word being typed, maybe empty). */
export function completionsFor(program: Command, words: string[]): string[] {
  const typed = words.at(-1) ?? '';
  let command = program;
  const positionals: string[] = [];
  const path: string[] = [];
  for (const word of words.slice(0, -1)) {
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub !== undefined && positionals.length === 0) {
      command = sub;
      path.push(sub.name());
    } else if (!word.startsWith('-')) {
      positionals.push(word);
    }
  }
  const name = path.join(' ');
  let candidates: string[];
  if (typed.startsWith('-')) {
    candidates = command.options.map((o) => o.long ?? '').filter(Boolean);
    candidates.push('--help');
  } else if (command.commands.length > 0 && positionals.length === 0) {
    candidates = command.commands.filter((c) => !c.name().startsWith('_')).map((c) => c.name());
  } else if (RESOURCE_ARGUMENT_COMMANDS.has(name) && positionals.length === 0) {
    candidates = RESOURCE_TYPES.map((type) => `${type}:`);
  } else if (RESOURCE_ARGUMENT_COMMANDS.has(name) && positionals.length === 1) {
    const type = positionals[0]!.split(':')[0] ?? '';
    candidates = isResourceType(type) ? [...PUBLIC_PERMISSIONS[type]] : [];
  } else if (name === 'lookup resources' && positionals.length === 0) {
    candidates = [...RESOURCE_TYPES];
  } else if (name === 'lookup resources' && positionals.length === 1) {
    const type = positionals[0]!;
    candidates = isResourceType(type) ? [...PUBLIC_PERMISSIONS[type]] : [];
  } else if (name === 'completion' && positionals.length === 0) {
    candidates = ['bash', 'zsh'];
  } else {
    candidates = [];
  }
  return candidates.filter((candidate) => candidate.startsWith(typed));
}

export function registerCompletionCommands(program: Command, run: Runner): void {
  program
    .command('completion')
    .summary('print the shell completion script (bash or zsh)')
    .argument('<shell>', 'bash or zsh')
    .addHelpText(
      'after',
      `
Examples:
  eval "$(authz completion bash)"     # add to ~/.bashrc
  eval "$(authz completion zsh)"      # add to ~/.zshrc, after compinit`,
    )
    .action(
      run(async (io, shell: string) => {
        if (shell === 'bash') io.stdout(BASH.trimEnd());
        else if (shell === 'zsh') io.stdout(ZSH.trimEnd());
        else throw new UsageError(`no completion for "${shell}": bash or zsh`);
        return Promise.resolve(EXIT.ok);
      }),
    );
}
