// Ranking among the nodes that passed the filters: nodes where this service recently failed go
// last, then fewest tasks of this service, then fewest tasks overall, then the seeded shuffle
// order. A heap keyed that way places n tasks in O(n log m); every placement updates the
// node's counts, so the next pop already sees it.

import type { Group, Reason } from "./filters.ts";
import { Heap } from "./heap.ts";
import { type NodeInfo, occupy } from "./node-info.ts";

export interface Candidate {
  readonly info: NodeInfo;
  /** Tasks of the group it can still take. */
  capacity: number;
  /** What bounds `capacity` (see Fit), to explain a node that filled up. */
  readonly reason: Reason;
  /** The service failed on this node recently. */
  readonly failed: boolean;
  /** Active tasks of this service on the node, kept in step with placements (hot path). */
  count: number;
}

/** True when `a` should receive the next task before `b`. */
export function better(a: Candidate, b: Candidate): boolean {
  if (a.failed !== b.failed) return b.failed;
  if (a.count !== b.count) return a.count < b.count;
  if (a.info.tasks !== b.info.tasks) return a.info.tasks < b.info.tasks;
  return a.info.order < b.info.order;
}

/**
 * Places up to `n` tasks of the group on `candidates`, best ranked first, appending each
 * chosen node to `out`. Returns how many it placed (fewer than n only when capacity ran out).
 */
export function placeRanked(
  candidates: readonly Candidate[],
  n: number,
  g: Group,
  out: NodeInfo[],
): number {
  const heap = new Heap(
    better,
    candidates.filter((c) => c.capacity > 0),
  );
  let placed = 0;
  while (placed < n) {
    const c = heap.pop();
    if (c === undefined) break;
    occupy(c.info, g.serviceId, g.reservation, g.hostPorts);
    c.capacity--;
    c.count++;
    out.push(c.info);
    placed++;
    if (c.capacity > 0) heap.push(c);
  }
  return placed;
}
