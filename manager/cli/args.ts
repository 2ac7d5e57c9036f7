// Command-line parsing, Docker style: `--flag value`, `--flag=value`, short `-q`, grouped `-qd`,
// repeatable flags, `--` ends the flags. Unknown flags are refused with the nearest known one.

import { closest } from "../../core/model/check.ts";

export type FlagKind = "bool" | "string" | "list";

export interface FlagDef {
  name: string;
  short?: string;
  kind: FlagKind;
  help: string;
  /** Shown in help as the value's name (`--replicas N`). */
  value?: string;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface Parsed {
  positionals: string[];
  bools: Map<string, boolean>;
  values: Map<string, string[]>;
}

/** With `interspersed: false`, flags end at the first positional (`create IMAGE CMD -f`). */
export function parseArgs(
  argv: readonly string[],
  defs: readonly FlagDef[],
  interspersed = true,
): Parsed {
  const out: Parsed = { positionals: [], bools: new Map(), values: new Map() };
  const byName = new Map(defs.map((d) => [d.name, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const def = byName.get(name) ?? unknown(`--${name}`, defs);
      const inline = eq < 0 ? undefined : a.slice(eq + 1);
      i = take(out, def, inline, argv, i);
    } else if (a.startsWith("-") && a.length > 1 && !/^-\d/.test(a)) {
      const letters = a.slice(1);
      for (let j = 0; j < letters.length; j++) {
        const def = byShort.get(letters[j]!) ?? unknown(`-${letters[j]}`, defs);
        if (def.kind === "bool") {
          out.bools.set(def.name, true);
          continue;
        }
        const rest = letters.slice(j + 1);
        i = take(out, def, rest === "" ? undefined : rest.replace(/^=/, ""), argv, i);
        break;
      }
    } else if (!interspersed) {
      out.positionals.push(...argv.slice(i));
      break;
    } else out.positionals.push(a);
  }
  return out;
}

function take(
  out: Parsed,
  def: FlagDef,
  inline: string | undefined,
  argv: readonly string[],
  i: number,
) {
  if (def.kind === "bool") {
    if (inline !== undefined && !["true", "false", "1", "0"].includes(inline)) {
      throw new UsageError(`flag --${def.name} takes true or false, not "${inline}"`);
    }
    out.bools.set(def.name, inline === undefined || inline === "true" || inline === "1");
    return i;
  }
  let value = inline;
  let next = i;
  if (value === undefined) {
    if (i + 1 >= argv.length) throw new UsageError(`flag --${def.name} needs a value`);
    value = argv[i + 1]!;
    next = i + 1;
  }
  const list = out.values.get(def.name) ?? [];
  if (def.kind === "string") list.length = 0;
  list.push(value);
  out.values.set(def.name, list);
  return next;
}

function unknown(flag: string, defs: readonly FlagDef[]): never {
  const names = defs.map((d) => `--${d.name}`);
  const near = closest(flag, names);
  throw new UsageError(`unknown flag: ${flag}${near ? ` (did you mean ${near}?)` : ""}`);
}

export function str(p: Parsed, name: string): string | undefined {
  return p.values.get(name)?.at(-1);
}

export function list(p: Parsed, name: string): string[] {
  return p.values.get(name) ?? [];
}

export function bool(p: Parsed, name: string): boolean {
  return p.bools.get(name) ?? false;
}

export function has(p: Parsed, name: string): boolean {
  return p.values.has(name) || p.bools.has(name);
}
