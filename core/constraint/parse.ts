// Parses placement constraints once into plain data (types.ts). Swarm's `key==value` and
// `key!=value` are a subset; beyond them: existence (`node.labels.gpu`, `!node.labels.gpu`),
// sets (`key in (a, b)`), globs (`key ~= edge-*`) and numbers with units (`hw.memory >= 1GB`).
// Every error is a ConstraintError at a column with, when one is near, the corrected text.

import { limits } from "../limits.ts";
import { closest } from "../model/check.ts";
import { ConstraintError, type ConstraintErrorCode } from "./errors.ts";
import { isLabel, isResource, parseTarget } from "./keys.ts";
import { normalizeArch, normalizeVariant } from "./platform.ts";
import type { CompareOp, Constraint, Target } from "./types.ts";
import { parseQuantity, UNIT_NAMES } from "./units.ts";

const KEY_CHAR = /[A-Za-z0-9_./-]/;
const OP_CHAR = /[=!<>~]/;
const OPS = new Set(["==", "!=", "~=", "<", "<=", ">", ">="]);
const OP_FIXES: Record<string, string> = {
  "=": "==",
  "===": "==",
  "!": "!=",
  "!==": "!=",
  "=!": "!=",
  "<>": "!=",
  "~": "~=",
  "=~": "~=",
  "~==": "~=",
  "=>": ">=",
  "=<": "<=",
  ">==": ">=",
  "<==": "<=",
};
// Swarm's value pattern allows parentheses (not `=`, `!`, `<`, `>` or commas); set items
// cannot hold them, since they delimit the set.
const FORBIDDEN_IN_VALUE = /[=!<>,]/;
const FORBIDDEN_IN_SET_ITEM = /[=!<>(),]/;
const ROLES = ["manager", "worker"];

/** The text being parsed, with helpers that throw at a 0-based index. */
class Source {
  constructor(readonly text: string) {}

  fail(code: ConstraintErrorCode, at: number, reason: string, suggestion?: string): never {
    throw new ConstraintError(code, this.text, at + 1, reason, suggestion);
  }

  /** The text with [from, to) replaced, trimmed: a suggested fix. */
  fix(from: number, to: number, replacement: string): string {
    return (this.text.slice(0, from) + replacement + this.text.slice(to)).trim();
  }

  skipSpace(i: number): number {
    while (i < this.text.length && /\s/.test(this.text[i]!)) i++;
    return i;
  }

  /** End of the text without trailing whitespace. */
  get end(): number {
    return this.text.trimEnd().length;
  }
}

export function parseConstraints(list: readonly string[]): Constraint[] {
  if (list.length > limits.constraintsPerServiceMax) {
    throw new ConstraintError(
      "too-many",
      list[limits.constraintsPerServiceMax]!,
      1,
      `a service may have at most ${limits.constraintsPerServiceMax} constraints`,
      undefined,
      limits.constraintsPerServiceMax,
    );
  }
  return list.map((text, i) => {
    try {
      return parseConstraint(text);
    } catch (err) {
      throw err instanceof ConstraintError ? err.at(i) : err;
    }
  });
}

export function parseConstraint(input: string): Constraint {
  const src = new Source(input);
  const max = limits.constraintLengthMax;
  if (input.length > max) src.fail("too-long", max, `longer than ${max} characters`);
  let i = src.skipSpace(0);
  if (i === input.length) src.fail("empty", i, "empty constraint: expected e.g. node.role==worker");
  const negated = input[i] === "!";
  if (negated) i = src.skipSpace(i + 1);
  const keyStart = i;
  while (i < input.length && KEY_CHAR.test(input[i]!)) i++;
  if (i === keyStart) {
    src.fail("expected-key", keyStart, "expected a key such as node.labels.<name> or hw.<name>");
  }
  const target = targetOf(src, keyStart, input.slice(keyStart, i));
  const text = input.trim();
  const opStart = src.skipSpace(i);
  if (negated) return negatedExistence(src, target, keyStart, opStart);
  if (opStart === input.length) {
    if (!isLabel(target)) {
      src.fail("expected-operator", opStart, `\`${target.key}\` needs an operator and a value`);
    }
    return { kind: "exists", text, target, negate: false };
  }
  let opEnd = opStart;
  while (opEnd < input.length && OP_CHAR.test(input[opEnd]!)) opEnd++;
  const op = input.slice(opStart, opEnd);
  if (op === "") return wordOperator(src, target, i, opStart);
  if (!OPS.has(op)) {
    const fix = OP_FIXES[op];
    const suggestion = fix === undefined ? undefined : src.fix(opStart, opEnd, fix);
    src.fail("bad-operator", opStart, `unknown operator \`${op}\`: ${OPERATORS}`, suggestion);
  }
  return valued(src, target, op, opStart, src.skipSpace(opEnd));
}

const OPERATORS = "expected ==, !=, in, ~=, <, <=, > or >=";

function targetOf(src: Source, at: number, key: string): Target {
  const r = parseTarget(key);
  if (r.ok) return r.target;
  if (r.code === "empty-label") src.fail(r.code, at + key.length, `\`${key}\` needs a label name`);
  if (r.code === "bad-label") {
    src.fail(r.code, at, `\`${key}\`: label names start with a letter or digit`);
  }
  const hint = r.suggestion === undefined ? undefined : src.fix(at, at + key.length, r.suggestion);
  return src.fail("unknown-key", at, `unknown key \`${key}\``, hint);
}

function negatedExistence(src: Source, target: Target, keyStart: number, after: number) {
  const bang = src.text.indexOf("!");
  if (after < src.text.length) {
    const rest = src.text.slice(after);
    const hint = rest.startsWith("==") ? src.fix(after, after + 2, "!=").slice(1) : undefined;
    src.fail(
      "wrong-operator",
      bang,
      "`!` only negates an existence check such as `!node.labels.gpu`; compare with !=",
      hint?.trim(),
    );
  }
  if (!isLabel(target)) {
    src.fail("wrong-operator", keyStart, `\`${target.key}\` always exists: only labels can`);
  }
  return { kind: "exists", text: src.text.trim(), target, negate: true } as const;
}

/** `key in (...)`, or a word where an operator should be (`node.labels.zone east`). */
function wordOperator(src: Source, target: Target, keyEnd: number, at: number): Constraint {
  const word = /^[A-Za-z]+/.exec(src.text.slice(at))?.[0] ?? "";
  if (word.toLowerCase() === "in") return set(src, target, at + 2);
  const hint =
    word !== "" || src.text[at] === ":" ? fixMissingOperator(src, keyEnd, at) : undefined;
  return src.fail("expected-operator", at, OPERATORS, hint);
}

function fixMissingOperator(src: Source, keyEnd: number, at: number): string {
  const from = src.text[at] === ":" ? src.skipSpace(at + 1) : at;
  return src.fix(keyEnd, from, "==");
}

function valued(src: Source, target: Target, op: string, opAt: number, at: number): Constraint {
  const end = src.end;
  if (at >= end) src.fail("missing-value", at, `expected a value after \`${op}\``);
  const raw = src.text.slice(at, end);
  const bad = FORBIDDEN_IN_VALUE.exec(raw);
  if (bad) src.fail("bad-value", at + bad.index, `unexpected \`${bad[0]}\` in value`);
  const text = src.text.trim();
  if (isResource(target) || (op !== "==" && op !== "!=" && op !== "~=")) {
    return compare(src, target, op, opAt, at, raw);
  }
  if (op === "~=") return { kind: "glob", text, target, pattern: raw.toLowerCase() };
  const value = normalizeValue(src, target, raw, at);
  return { kind: "equals", text, target, negate: op === "!=", value };
}

function normalizeValue(src: Source, target: Target, raw: string, at: number): string {
  const v = raw.toLowerCase();
  if (target.kind === "arch") return normalizeArch(v);
  if (target.kind === "variant") return normalizeVariant("", v);
  if (target.kind === "role" && !ROLES.includes(v)) {
    const near = closest(v, ROLES);
    const hint = near === undefined ? undefined : src.fix(at, at + raw.length, near);
    src.fail("bad-role", at, `node.role is manager or worker, not \`${raw}\``, hint);
  }
  return v;
}

function compare(
  src: Source,
  target: Target,
  op: string,
  opAt: number,
  at: number,
  raw: string,
): Constraint {
  if (op === "~=") {
    src.fail("wrong-operator", opAt, `\`${target.key}\` is a number: use ==, !=, <, <=, >, >=`);
  }
  if (!isLabel(target) && !isResource(target)) {
    const why = `\`${target.key}\` is not a number: use ==, !=, in or ~=`;
    src.fail("wrong-operator", opAt, why);
  }
  const q = parseQuantity(raw, target.kind !== "cpus");
  if (!q.ok) quantityError(src, target, at, raw, q.reason, q.unit);
  return { kind: "compare", text: src.text.trim(), target, op: op as CompareOp, number: q.value };
}

function quantityError(
  src: Source,
  target: Target,
  at: number,
  raw: string,
  reason: "not-a-number" | "unknown-unit" | "ambiguous-unit",
  unit: string,
): never {
  if (reason === "not-a-number") src.fail("bad-number", at, `expected a number, not \`${raw}\``);
  const unitAt = at + raw.length - unit.length;
  if (target.kind === "cpus") {
    src.fail("bad-unit", unitAt, "node.resources.cpus takes a plain number of CPUs");
  }
  if (reason === "ambiguous-unit") {
    const why = `unit \`${unit}\` is ambiguous: write ${unit.toUpperCase()}B (10^n) or `;
    const fix = src.fix(unitAt, unitAt + unit.length, `${unit.toUpperCase()}B`);
    src.fail("ambiguous-unit", unitAt, `${why}${unit.toUpperCase()}iB (2^n)`, fix);
  }
  const near = closest(unit, UNIT_NAMES);
  const fix = near === undefined ? undefined : src.fix(unitAt, unitAt + unit.length, near);
  return src.fail("bad-unit", unitAt, `unknown unit \`${unit}\`: ${UNIT_NAMES.join(", ")}`, fix);
}

function set(src: Source, target: Target, afterIn: number): Constraint {
  if (isResource(target)) {
    src.fail("wrong-operator", afterIn - 2, `\`${target.key}\` is a number: use <, <=, >, >=`);
  }
  const open = src.skipSpace(afterIn);
  if (src.text[open] !== "(") {
    const rest = src.text.slice(open, src.end);
    const hint = rest === "" ? undefined : src.fix(open, src.end, `(${rest})`);
    src.fail("expected-set", open, "expected `(` after in: key in (a, b)", hint);
  }
  const close = src.text.indexOf(")", open);
  if (close < 0) src.fail("unclosed-set", open, "`(` is never closed", `${src.text.trim()})`);
  if (src.skipSpace(close + 1) < src.text.length) {
    src.fail("trailing-input", src.skipSpace(close + 1), "unexpected text after `)`");
  }
  const values = setItems(src, target, open + 1, close);
  return { kind: "set", text: src.text.trim(), target, values };
}

function setItems(src: Source, target: Target, from: number, to: number): string[] {
  const values: string[] = [];
  let start = from;
  for (const item of src.text.slice(from, to).split(",")) {
    const lead = item.length - item.trimStart().length;
    const v = item.trim();
    if (v === "") src.fail("empty-set-item", start + lead, "empty value in set");
    const bad = FORBIDDEN_IN_SET_ITEM.exec(v);
    if (bad) src.fail("bad-value", start + lead + bad.index, `unexpected \`${bad[0]}\` in value`);
    values.push(normalizeValue(src, target, v, start + lead));
    start += item.length + 1;
  }
  if (values.length > limits.constraintSetValuesMax) {
    src.fail("too-many-values", from, `at most ${limits.constraintSetValuesMax} values in a set`);
  }
  return values;
}
