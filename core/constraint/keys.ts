// Constraint keys: which node field each one reads, and how a misspelt key is corrected.
// Key prefixes are case-insensitive (swarm: `Node.Labels.x` works); label names are not.

import { editDistance } from "../model/check.ts";
import type { Node } from "../model/types.ts";
import { normalizeArch, normalizeVariant } from "./platform.ts";
import type { Target, TargetKind } from "./types.ts";

const FIXED: Record<string, TargetKind> = {
  "node.id": "id",
  "node.hostname": "hostname",
  "node.role": "role",
  "node.platform.os": "os",
  "node.platform.arch": "arch",
  "node.platform.variant": "variant",
  "node.resources.memory": "memory",
  "node.resources.cpus": "cpus",
};

// Label prefixes; `hw.<k>` is short for the engine label `hw.<k>` the agent detects.
const PREFIXES: readonly [prefix: string, kind: TargetKind, keep: boolean][] = [
  ["node.labels.", "nodeLabel", false],
  ["engine.labels.", "engineLabel", false],
  ["hw.", "engineLabel", true],
];

/** Every key spelling an operator may use, for messages and docs. */
export const KNOWN_KEYS: readonly string[] = [
  ...Object.keys(FIXED),
  "node.labels.<name>",
  "engine.labels.<name>",
  "hw.<name>",
];

export const LABEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

export type TargetResult =
  | { ok: true; target: Target }
  | { ok: false; code: "unknown-key" | "empty-label" | "bad-label"; suggestion?: string };

export function parseTarget(key: string): TargetResult {
  const lower = key.toLowerCase();
  const kind = FIXED[lower];
  if (kind !== undefined) return { ok: true, target: { key: lower, kind, label: "" } };
  for (const [prefix, labelKind, keep] of PREFIXES) {
    if (lower === prefix.slice(0, -1)) return { ok: false, code: "empty-label" };
    if (!lower.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (name === "") return { ok: false, code: "empty-label" };
    if (!LABEL_NAME.test(name)) return { ok: false, code: "bad-label" };
    const label = keep ? prefix + name : name;
    const canonical = labelKind === "nodeLabel" ? "node.labels." : "engine.labels.";
    return { ok: true, target: { key: canonical + label, kind: labelKind, label } };
  }
  return { ok: false, code: "unknown-key", suggestion: suggestKey(key) };
}

/**
 * The closest known key: a fixed key by edit distance, a label prefix with its first segments
 * corrected (`node.label.zone` -> `node.labels.zone`), or the key with a missing `node.`.
 */
export function suggestKey(key: string): string | undefined {
  const lower = key.toLowerCase();
  if (FIXED[`node.${lower}`] !== undefined) return `node.${lower}`;
  if (lower.startsWith("labels.")) return `node.${key}`;
  let best: { text: string; dist: number } | undefined;
  const offer = (text: string, dist: number, len: number): void => {
    if (dist > Math.max(2, Math.floor(len / 3))) return;
    if (best === undefined || dist < best.dist) best = { text, dist };
  };
  const parts = key.split(".");
  for (const [prefix] of PREFIXES) {
    const n = prefix.split(".").length - 1;
    if (parts.length <= n) continue;
    const head = parts.slice(0, n).join(".").toLowerCase();
    const want = prefix.slice(0, -1);
    offer(`${prefix}${parts.slice(n).join(".")}`, editDistance(head, want), want.length);
  }
  for (const fixed of Object.keys(FIXED)) offer(fixed, editDistance(lower, fixed), fixed.length);
  return best?.text;
}

/** Reads a string-valued target from a node; undefined when a label is absent. */
export function resolveTarget(target: Target, node: Node): string | undefined {
  switch (target.kind) {
    case "id":
      return node.id;
    case "hostname":
      return node.description.hostname;
    case "role":
      return node.spec.role;
    case "os":
      return node.description.platform.os;
    case "arch":
      return normalizeArch(node.description.platform.arch);
    case "variant":
      return normalizeVariant(node.description.platform.arch, node.description.platform.variant);
    case "nodeLabel":
      return own(node.spec.labels, target.label);
    case "engineLabel":
      return own(node.description.engineLabels, target.label);
    case "memory":
      return String(node.description.resources.memoryBytes);
    case "cpus":
      return String(node.description.resources.nanoCPUs / 1e9);
  }
}

function own(labels: Record<string, string>, name: string): string | undefined {
  // Labels are plain objects of strings: anything else found under a name (`constructor`,
  // `__proto__`) comes from Object.prototype and is no label. Cheaper than Object.hasOwn.
  const v = labels[name];
  return typeof v === "string" ? v : undefined;
}

export function isLabel(target: Target): boolean {
  return target.kind === "nodeLabel" || target.kind === "engineLabel";
}

export function isResource(target: Target): boolean {
  return target.kind === "memory" || target.kind === "cpus";
}
