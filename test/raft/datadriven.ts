// A tiny datadriven runner (after cockroachdb/datadriven, as etcd's raft tests use it). A file
// is a list of blocks:
//
//   # comments and blank lines between blocks are kept as they are
//   command arg key=value
//   ----
//   expected output (no blank lines)
//
// The runner feeds each command to a handler and compares the output. With FLEET_REWRITE=1 it
// writes the actual output back into the file instead of failing.

import { readFileSync, writeFileSync } from "node:fs";

export interface Command {
  name: string;
  args: string[];
  kv: Map<string, string>;
  line: number;
  raw: string;
}

interface Block {
  cmd: Command;
  expected: string;
}

type Piece = { kind: "text"; text: string } | { kind: "block"; block: Block };

export function parseCommand(raw: string, line: number): Command {
  const parts = raw.trim().split(/\s+/);
  const args: string[] = [];
  const kv = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const eq = p.indexOf("=");
    if (eq > 0) kv.set(p.slice(0, eq), p.slice(eq + 1));
    else args.push(p);
  }
  return { name: parts[0]!, args, kv, line, raw: raw.trim() };
}

function parse(text: string): Piece[] {
  const lines = text.split("\n");
  const pieces: Piece[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (l.trim() === "" || l.startsWith("#")) {
      pieces.push({ kind: "text", text: l });
      i++;
      continue;
    }
    if (lines[i + 1] !== "----") throw new Error(`line ${i + 1}: expected ---- after "${l}"`);
    const cmd = parseCommand(l, i + 1);
    const out: string[] = [];
    i += 2;
    while (i < lines.length && lines[i]!.trim() !== "") out.push(lines[i++]!);
    pieces.push({ kind: "block", block: { cmd, expected: out.join("\n") } });
  }
  return pieces;
}

/** Runs every block of `file`; returns the mismatches (empty when all matched or rewritten). */
export function runFile(file: string, handle: (cmd: Command) => string): string[] {
  const pieces = parse(readFileSync(file, "utf8"));
  const rewrite = process.env.FLEET_REWRITE === "1";
  const failures: string[] = [];
  const outText: string[] = [];
  for (const p of pieces) {
    if (p.kind === "text") {
      outText.push(p.text);
      continue;
    }
    const actual = handle(p.block.cmd).replace(/\n+$/, "") || "ok";
    outText.push(p.block.cmd.raw, "----", actual);
    if (!rewrite && actual !== p.block.expected) {
      failures.push(
        `${file}:${p.block.cmd.line}: ${p.block.cmd.raw}\n--- expected\n${p.block.expected}\n` +
          `--- actual\n${actual}`,
      );
      break; // later blocks depend on this one's state
    }
  }
  if (rewrite) writeFileSync(file, outText.join("\n"));
  return failures;
}
