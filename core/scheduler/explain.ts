// Turns rejection counts into the message a PENDING task carries, naming each filter and how
// many nodes it rejected, in pipeline order: "no suitable node (constraint
// node.labels.storage==ssd not satisfied on 7 nodes; insufficient memory on 2 nodes)".

import { limits } from "../limits.ts";
import type { Group, Reason } from "./filters.ts";

const ORDER = [
  "not-ready",
  "not-active",
  "memory",
  "cpu",
  "platform",
  "constraint",
  "port",
  "max-replicas",
];

export class Rejections {
  readonly #counts = new Map<Reason, number>();

  add(reason: Reason, n = 1): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + n);
  }

  get total(): number {
    let sum = 0;
    for (const n of this.#counts.values()) sum += n;
    return sum;
  }

  /** A copy, so one group's base counts can be extended per explanation. */
  clone(): Rejections {
    const copy = new Rejections();
    for (const [reason, n] of this.#counts) copy.add(reason, n);
    return copy;
  }

  entries(): [Reason, number][] {
    return [...this.#counts].sort(([a], [b]) => rank(a) - rank(b) || detail(a) - detail(b));
  }
}

export function explain(rejections: Rejections, g: Group): string {
  const entries = rejections.entries();
  if (entries.length === 0) return "no suitable node (no nodes in the cluster)";
  const max = limits.pendingMessageReasonsMax;
  const parts = entries.slice(0, max).map(([r, n]) => phrase(r, g, n));
  if (entries.length > max) parts.push(`and ${entries.length - max} more reasons`);
  return `no suitable node (${parts.join("; ")})`;
}

function phrase(r: Reason, g: Group, n: number): string {
  const on = `on ${n} ${n === 1 ? "node" : "nodes"}`;
  if (r.startsWith("constraint:")) {
    return `constraint ${g.constraints[detail(r)]?.text ?? "?"} not satisfied ${on}`;
  }
  if (r.startsWith("port:")) return `host port ${r.slice(5)} in use ${on}`;
  switch (r) {
    case "not-ready":
      return `node not ready ${on}`;
    case "not-active":
      return `node paused or drained ${on}`;
    case "memory":
      return `insufficient memory ${on}`;
    case "cpu":
      return `insufficient cpu ${on}`;
    case "platform":
      return `unsupported platform ${on}`;
    case "max-replicas":
      return `max replicas per node (${g.maxReplicasPerNode}) reached ${on}`;
    default:
      return `unknown reason ${r} ${on}`;
  }
}

function rank(r: Reason): number {
  const i = ORDER.indexOf(r.split(":")[0]!);
  return i < 0 ? ORDER.length : i;
}

function detail(r: Reason): number {
  return r.startsWith("constraint:") ? Number(r.slice(11)) : 0;
}
