// Matches parsed constraints against a node: the target is resolved to a value, then one
// function per constraint kind decides (Nomad's shape). A missing label compares as "" for
// ==, != and globs (swarm's rule), is in no set, and satisfies no numeric comparison.

import type { Node } from "../model/types.ts";
import { globMatch } from "./glob.ts";
import { resolveTarget } from "./keys.ts";
import type { CompareConstraint, CompareOp, Constraint } from "./types.ts";
import { parseQuantity } from "./units.ts";

export function matchConstraint(c: Constraint, node: Node): boolean {
  const raw = resolveTarget(c.target, node);
  switch (c.kind) {
    case "exists":
      return (raw !== undefined) !== c.negate;
    case "equals":
      return ((raw ?? "").toLowerCase() === c.value) !== c.negate;
    case "set":
      return raw !== undefined && c.values.includes(raw.toLowerCase());
    case "glob":
      return globMatch(c.pattern, (raw ?? "").toLowerCase());
    case "compare":
      return compareMatch(c, node, raw);
  }
}

/** True when the node satisfies every constraint (they are ANDed). */
export function matchConstraints(cs: readonly Constraint[], node: Node): boolean {
  return firstUnsatisfied(cs, node) < 0;
}

/** Index of the first constraint the node fails, or -1: what explanations count. */
export function firstUnsatisfied(cs: readonly Constraint[], node: Node): number {
  for (let i = 0; i < cs.length; i++) if (!matchConstraint(cs[i]!, node)) return i;
  return -1;
}

function compareMatch(c: CompareConstraint, node: Node, raw: string | undefined): boolean {
  // Resources are numbers already: skip the string round trip on the scheduler's hot path.
  if (c.target.kind === "memory") {
    return compareNumbers(node.description.resources.memoryBytes, c.op, c.number);
  }
  if (c.target.kind === "cpus") {
    return compareNumbers(node.description.resources.nanoCPUs / 1e9, c.op, c.number);
  }
  if (raw === undefined) return false;
  const q = parseQuantity(raw, true);
  return q.ok && compareNumbers(q.value, c.op, c.number);
}

function compareNumbers(a: number, op: CompareOp, b: number): boolean {
  switch (op) {
    case "==":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}
