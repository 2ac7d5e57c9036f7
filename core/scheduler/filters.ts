// The feasibility pipeline. Each link either rejects a node (capacity 0, with a reason the
// explanation counts) or bounds how many tasks of the group it can still take. Links run
// cheapest first, so most rejected nodes cost a field compare; the first link that rejects
// is the one counted, as in Nomad.

import { firstUnsatisfied } from "../constraint/match.ts";
import { type NormalPlatform, platformSatisfies } from "../constraint/platform.ts";
import type { Constraint, Target } from "../constraint/types.ts";
import type { NodeInfo, Reservation } from "./node-info.ts";

/** Everything the pipeline needs about a group of tasks (one service, one spec version). */
export interface Group {
  readonly serviceId: string;
  readonly specVersion: number;
  readonly reservation: Reservation;
  readonly platforms: readonly NormalPlatform[];
  readonly constraints: readonly Constraint[];
  /** Host ports every task of the group publishes, as `80/tcp`. */
  readonly hostPorts: readonly string[];
  /** 0 means no limit. */
  readonly maxReplicasPerNode: number;
  readonly spread: readonly Target[];
  /**
   * Memo of the static links (platform, constraints) by node `order`, shared by every group
   * with the same platforms and constraints within one run: 0 unknown, 1 pass, 2 platform,
   * 3 + i constraint i (constraintsPerServiceMax + 3 fits a byte). Nodes do not change
   * during a run, so each is evaluated once per distinct placement spec rather than once per
   * group (Nomad's computed node classes).
   */
  readonly staticMemo: Uint8Array;
}

/** A fresh memo for `nodeCount` nodes. */
export function newStaticMemo(nodeCount: number): Uint8Array {
  return new Uint8Array(nodeCount);
}

/** Reasons, in pipeline order; `constraint:<i>` and `port:<80/tcp>` carry a detail. */
export type Reason =
  | "not-ready"
  | "not-active"
  | "memory"
  | "cpu"
  | "platform"
  | `constraint:${number}`
  | `port:${string}`
  | "max-replicas"
  | "";

export interface Fit {
  /** How many more tasks of the group fit (0: rejected). Infinity when nothing bounds it. */
  capacity: number;
  /** Why it is rejected, or which link bounds the capacity ("" when none does). */
  reason: Reason;
}

/** Checks one node; writes the result into `out` (reused across nodes: this is the hot loop). */
export function fit(info: NodeInfo, g: Group, out: Fit = { capacity: 0, reason: "" }): Fit {
  // 1. Ready and active first: two field compares, and a down, paused or drained node can
  //    take nothing whatever else is true of it.
  if (info.node.status.state !== "ready") return reject(out, "not-ready");
  if (info.node.spec.availability !== "active") return reject(out, "not-active");
  // 2. Resources: two divisions against the node's free reservations. Cheap, and on small
  //    boards the most common reason a node is full.
  out.capacity = Number.POSITIVE_INFINITY;
  out.reason = "";
  if (!bound(out, perNode(info.freeMemoryBytes, g.reservation.memoryBytes), "memory")) return out;
  if (!bound(out, perNode(info.freeNanoCPUs, g.reservation.nanoCPUs), "cpu")) return out;
  // 3 and 4 (platform, then constraints) depend on the node alone: memoised per run.
  let verdict = g.staticMemo[info.order]!;
  if (verdict === 0) {
    verdict = staticVerdict(info, g);
    g.staticMemo[info.order] = verdict;
  }
  if (verdict === 2) return reject(out, "platform");
  if (verdict > 2) return reject(out, constraintReason(verdict - 3));
  // 5. Host ports: set lookups per published port; a node can hold one task per fixed port.
  for (const port of g.hostPorts) if (info.hostPorts.has(port)) return reject(out, `port:${port}`);
  if (g.hostPorts.length > 0 && !bound(out, 1, `port:${g.hostPorts[0]}`)) return out;
  // 6. Max replicas per node last: it depends on the service's count on the node, which the
  //    group's own placements change; it only bounds nodes that passed everything else.
  if (g.maxReplicasPerNode > 0) {
    const room = g.maxReplicasPerNode - (info.perService.get(g.serviceId) ?? 0);
    if (!bound(out, Math.max(0, room), "max-replicas")) return out;
  }
  return out;
}

// Constraint reasons are made once: a rejected node must not cost a string allocation.
const CONSTRAINT_REASONS: Reason[] = [];

function constraintReason(i: number): Reason {
  let r = CONSTRAINT_REASONS[i];
  if (r === undefined) {
    r = `constraint:${i}`;
    CONSTRAINT_REASONS[i] = r;
  }
  return r;
}

function staticVerdict(info: NodeInfo, g: Group): number {
  // 3. Platform: a few string compares on the pre-normalised platform; a node of the wrong
  //    architecture cannot run the image at all.
  if (g.platforms.length > 0 && !anyPlatform(info, g.platforms)) return 2;
  // 4. Constraints: label lookups and string or glob matches, dearer than the above.
  const failed = firstUnsatisfied(g.constraints, info.node);
  return failed >= 0 ? 3 + failed : 1;
}

function reject(out: Fit, reason: Reason): Fit {
  out.capacity = 0;
  out.reason = reason;
  return out;
}

function anyPlatform(info: NodeInfo, platforms: readonly NormalPlatform[]): boolean {
  for (const p of platforms) if (platformSatisfies(info.platform, p)) return true;
  return false;
}

/** How many reservations of `want` fit in `free`; no reservation never limits. */
function perNode(free: number, want: number): number {
  return want > 0 ? Math.floor(free / want) : Number.POSITIVE_INFINITY;
}

/** Lowers `out` to `n` (naming `reason`) when n is smaller; false when n rejects the node. */
function bound(out: Fit, n: number, reason: Reason): boolean {
  if (n < out.capacity) {
    out.capacity = Math.max(0, n);
    out.reason = reason;
  }
  return n >= 1;
}
