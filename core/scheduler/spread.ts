// Spread preferences: tasks are split as evenly as possible across the values of a label,
// level by level (several preferences nest: zone, then rack within each zone), counting the
// service's tasks already on each branch. Nodes without the label form their own branch,
// as in swarm. Within a leaf, the ranker picks the nodes.

import { resolveTarget } from "../constraint/keys.ts";
import type { Target } from "../constraint/types.ts";
import type { Group } from "./filters.ts";
import { Heap } from "./heap.ts";
import type { NodeInfo } from "./node-info.ts";
import { type Candidate, placeRanked } from "./rank.ts";

export interface Branch {
  /** The label value this branch stands for ("" for the root and for nodes without it). */
  readonly value: string;
  readonly children: readonly Branch[];
  /** Only on leaves: the nodes of this branch. */
  readonly candidates: readonly Candidate[];
}

export function buildTree(candidates: readonly Candidate[], spread: readonly Target[]): Branch {
  return branch("", candidates, spread, 0);
}

function branch(
  value: string,
  candidates: readonly Candidate[],
  spread: readonly Target[],
  level: number,
): Branch {
  const target = spread[level];
  if (target === undefined) return { value, children: [], candidates };
  const byValue = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const v = spreadValue(c.info, target);
    const list = byValue.get(v);
    if (list === undefined) byValue.set(v, [c]);
    else list.push(c);
  }
  const values = [...byValue.keys()].sort();
  const children = values.map((v) => branch(v, byValue.get(v)!, spread, level + 1));
  return { value, children, candidates: [] };
}

/** The node's value for a spread key, resolved once per run (nodes do not change in a run). */
function spreadValue(info: NodeInfo, target: Target): string {
  let v = info.spreadValues.get(target.key);
  if (v === undefined) {
    v = (resolveTarget(target, info.node) ?? "").toLowerCase();
    info.spreadValues.set(target.key, v);
  }
  return v;
}

/** Places up to n tasks under `b`; returns how many it placed. */
export function placeSpread(b: Branch, n: number, g: Group, out: NodeInfo[]): number {
  if (b.children.length === 0) return placeRanked(b.candidates, n, g, out);
  const shares = waterFill(b.children, n);
  let placed = 0;
  b.children.forEach((child, i) => {
    const share = shares[i]!;
    if (share > 0) placed += placeSpread(child, share, g, out);
  });
  return placed;
}

interface Level {
  readonly index: number;
  /** Service tasks the branch will hold: those already there plus its share so far. */
  count: number;
  room: number;
}

/**
 * Shares n tasks among branches so their final counts of the service's tasks are as even as
 * capacity allows: each task goes to the branch with the fewest (ties: first value).
 */
export function waterFill(branches: readonly Branch[], n: number): number[] {
  const shares = new Array<number>(branches.length).fill(0);
  const levels = branches.map((b, index) => ({
    index,
    count: existing(b),
    room: capacity(b),
  }));
  const heap = new Heap<Level>(
    (a, b) => a.count < b.count || (a.count === b.count && a.index < b.index),
    levels.filter((l) => l.room > 0),
  );
  for (let left = n; left > 0; left--) {
    const l = heap.pop();
    if (l === undefined) break;
    shares[l.index]!++;
    l.count++;
    l.room--;
    if (l.room > 0) heap.push(l);
  }
  return shares;
}

function existing(b: Branch): number {
  let sum = 0;
  for (const c of b.candidates) sum += c.count;
  for (const child of b.children) sum += existing(child);
  return sum;
}

function capacity(b: Branch): number {
  let sum = 0;
  for (const c of b.candidates) sum += c.capacity;
  for (const child of b.children) sum += capacity(child);
  return sum;
}
