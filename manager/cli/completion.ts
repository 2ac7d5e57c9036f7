// `fleet completion bash|zsh`: completion scripts generated from the command table, so they
// never drift from the commands themselves. Words complete first, then the command's flags.

import type { Command } from "./command.ts";
import { globalFlags } from "./command.ts";

function tree(commands: readonly Command[]): Map<string, string[]> {
  const next = new Map<string, string[]>();
  const add = (k: string, w: string) => {
    const l = next.get(k) ?? [];
    if (!l.includes(w)) l.push(w);
    next.set(k, l);
  };
  for (const c of commands) {
    for (let i = 0; i < c.words.length; i++) add(c.words.slice(0, i).join(" "), c.words[i]!);
  }
  add("", "completion");
  add("", "help");
  add("", "version");
  return next;
}

function flagsOf(c: Command): string[] {
  return [...c.flags, ...globalFlags].map((f) => `--${f.name}`);
}

export function bashCompletion(commands: readonly Command[]): string {
  const words = tree(commands);
  const cases = [...words]
    .map(([k, v]) => `    "${k}") echo "${v.join(" ")}" ;;`)
    .concat(commands.map((c) => `    "${c.words.join(" ")}") echo "${flagsOf(c).join(" ")}" ;;`))
    .join("\n");
  return `# fleet bash completion: source <(fleet completion bash)
_fleet_words() {
  case "$1" in
${cases}
  esac
}
_fleet() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if [[ " $(_fleet_words "$path") " == *" $w "* && "$(_fleet_words "$path")" != --* ]]; then
      path="\${path:+$path }$w"
    fi
  done
  COMPREPLY=($(compgen -W "$(_fleet_words "$path")" -- "$cur"))
}
complete -F _fleet fleet
`;
}

export function zshCompletion(commands: readonly Command[]): string {
  return `#compdef fleet
# fleet zsh completion: source <(fleet completion zsh)
autoload -U bashcompinit && bashcompinit
${bashCompletion(commands)}`;
}
