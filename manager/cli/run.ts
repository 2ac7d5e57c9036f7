// The CLI as a function: argv and an Io in, an exit code out (main.ts binds it to the process).
// Exit codes: 0 success, 1 the operation failed (the manager said no, a service did not
// converge, the manager is unreachable), 2 the command line is wrong, 130 interrupted.

import { closest } from "../../core/model/check.ts";
import { bool, parseArgs, str, UsageError } from "./args.ts";
import { CliError } from "./client.ts";
import {
  type CliContext,
  type Command,
  clientFor,
  globalFlags,
  globalValueFlags,
} from "./command.ts";
import { commands } from "./commands/index.ts";
import { bashCompletion, zshCompletion } from "./completion.ts";
import { commandHelp, groupHelp } from "./help.ts";
import { findLauncher } from "./launcher.ts";
import type { Io } from "./output.ts";

export const VERSION = "0.1.0";

export async function run(argv: readonly string[], io: Io, signal = new AbortController().signal) {
  let cmd: Command | undefined;
  try {
    const found = findCommand(argv);
    if (typeof found === "number") return found === 0 ? help(io, argv) : found;
    cmd = found.command;
    return await runCommand(found.command, found.rest, io, signal);
  } catch (err) {
    return report(io, err, cmd);
  }
}

function help(io: Io, argv: readonly string[]): number {
  const words = argv.filter((a) => !a.startsWith("-") && a !== "help");
  const group =
    words.length > 0 && commands.some((c) => c.words[0] === words[0]) ? [words[0]!] : [];
  io.out(groupHelp(commands, group));
  return 0;
}

type Found = { command: Command; rest: string[] } | number;

function findCommand(argv: readonly string[]): Found {
  const words = leadingWords(argv);
  if (words.length === 0) return 0;
  const [first, second] = words;
  if (first === "help") return 0;
  if (first === "version" || first === "completion")
    return { command: builtin(first), rest: rest(argv, 1) };
  const exact = commands
    .filter((c) => c.words.every((w, i) => words[i] === w))
    .sort((a, b) => b.words.length - a.words.length)[0];
  if (exact) return { command: exact, rest: rest(argv, exact.words.length) };
  const group = commands.filter((c) => c.words[0] === first && c.words.length > 1);
  if (group.length > 0 && second === undefined) return 0;
  const names =
    group.length > 0
      ? group.map((c) => c.words[1]!)
      : [...new Set(commands.map((c) => c.words[0]!)), "completion", "version"];
  const word = group.length > 0 ? second! : first!;
  const near = closest(word, names);
  const what = group.length > 0 ? `fleet ${first} ${word}` : `fleet ${word}`;
  throw new UsageError(`unknown command "${what}"${near ? ` (did you mean "${near}"?)` : ""}`);
}

/** The command words: the leading arguments before the first flag, skipping global flags. */
function leadingWords(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length && out.length < 2; i++) {
    const a = argv[i]!;
    if (globalValueFlags.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("-")) {
      if (a === "--help" || a === "-h" || globalValueFlags.has(a.split("=")[0]!)) continue;
      break;
    }
    out.push(a);
  }
  return out;
}

/** argv without the first `n` command words (global flags before them are kept). */
function rest(argv: readonly string[], n: number): string[] {
  const out: string[] = [];
  let skipped = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (skipped < n && globalValueFlags.has(a)) {
      out.push(a, argv[++i] ?? "");
      continue;
    }
    if (skipped < n && !a.startsWith("-")) {
      skipped++;
      continue;
    }
    out.push(a);
  }
  return out;
}

async function runCommand(cmd: Command, argv: string[], io: Io, signal: AbortSignal) {
  const p = parseArgs(argv, [...cmd.flags, ...globalFlags], !cmd.trailingCommand);
  if (bool(p, "help")) {
    io.out(commandHelp(cmd));
    return 0;
  }
  const n = p.positionals.length;
  const name = `fleet ${cmd.words.join(" ")}`;
  if (n < cmd.args.min) {
    throw new UsageError(
      `"${name}" requires at least ${cmd.args.min} argument${cmd.args.min > 1 ? "s" : ""}`,
    );
  }
  if (cmd.args.max !== undefined && n > cmd.args.max) {
    throw new UsageError(
      cmd.args.max === 0
        ? `"${name}" accepts no arguments`
        : `"${name}" accepts at most ${cmd.args.max} argument(s)`,
    );
  }
  const host = str(p, "host");
  let client: ReturnType<typeof clientFor> | undefined;
  const c: CliContext = {
    io,
    host: host ?? io.env.FLEET_HOST ?? "",
    client: () => {
      client ??= clientFor(host, io.env, {
        cacert: str(p, "tlscacert"),
        cert: str(p, "tlscert"),
        key: str(p, "tlskey"),
      });
      return client;
    },
    launcher: () => findLauncher(io.env),
    signal,
  };
  return (await cmd.run(c, p)) ?? 0;
}

function builtin(name: "version" | "completion"): Command {
  if (name === "version") {
    return {
      words: ["version"],
      usage: "",
      summary: "Print fleet's version",
      flags: [],
      args: { min: 0, max: 0 },
      run: async (c) => {
        c.io.out(`fleet ${VERSION} (API v1)`);
        return 0;
      },
    };
  }
  return {
    words: ["completion"],
    usage: "bash|zsh",
    summary: "Print a shell completion script: source <(fleet completion bash)",
    flags: [],
    args: { min: 1, max: 1 },
    run: async (c, p) => {
      const shell = p.positionals[0];
      if (shell === "bash") c.io.out(bashCompletion(commands));
      else if (shell === "zsh") c.io.out(zshCompletion(commands));
      else throw new UsageError(`no completion for "${shell}" (bash or zsh)`);
      return 0;
    },
  };
}

function report(io: Io, err: unknown, cmd: Command | undefined): number {
  if (err instanceof UsageError) {
    const more = cmd ? `fleet ${cmd.words.join(" ")} --help` : "fleet --help";
    io.err(`fleet: ${err.message}\nSee '${more}'.`);
    return 2;
  }
  if (err instanceof CliError) {
    io.err(`Error: ${err.message}`);
    return err.exitCode;
  }
  const e = err as Error;
  io.err(`fleet: internal error (a bug in fleet): ${e?.message ?? String(err)}`);
  if (io.env.FLEET_DEBUG) io.err(String(e?.stack));
  return 1;
}
