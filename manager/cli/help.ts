// Usage text, Docker's layout: a usage line, a summary, the commands or the options.

import type { FlagDef } from "./args.ts";
import { type Command, globalFlags } from "./command.ts";

function flagLine(f: FlagDef): string {
  const name = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`;
  return `  ${name.padEnd(34)} ${f.help}`;
}

export function commandHelp(c: Command): string {
  const flags = [...c.flags, ...globalFlags];
  const options = c.flags.length > 0 && !c.usage.includes("[OPTIONS]") ? " [OPTIONS]" : "";
  return [
    `Usage:  fleet ${c.words.join(" ")}${options} ${c.usage}`.trimEnd(),
    "",
    c.summary,
    "",
    "Options:",
    ...flags.map(flagLine),
  ].join("\n");
}

/** Help for a group (`fleet service`) or the whole CLI (prefix []). */
export function groupHelp(commands: readonly Command[], prefix: string[]): string {
  const under = commands.filter((c) => prefix.every((w, i) => c.words[i] === w));
  const width = Math.max(...under.map((c) => c.words.slice(prefix.length).join(" ").length), 10);
  const lines = under.map(
    (c) => `  ${c.words.slice(prefix.length).join(" ").padEnd(width)}   ${c.summary}`,
  );
  const extra =
    prefix.length === 0
      ? [
          `  ${"completion".padEnd(width)}   Print a bash or zsh completion script`,
          `  ${"version".padEnd(width)}   Print fleet's version`,
        ]
      : [];
  const group = prefix.length > 0 ? `${prefix.join(" ")} ` : "";
  return [
    `Usage:  fleet ${group}COMMAND`,
    "",
    prefix.length === 0 ? "Orchestration for fleets of small boards." : `Manage ${prefix[0]}s`,
    "",
    "Commands:",
    ...lines,
    ...extra,
    "",
    "Global options:",
    ...globalFlags.map(flagLine),
    "",
    `Run 'fleet ${group}COMMAND --help' for more on a command.`,
  ].join("\n");
}
