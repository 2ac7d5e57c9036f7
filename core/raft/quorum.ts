// Quorum arithmetic for one majority configuration: which index a majority has reached, and
// whether a majority granted a vote. Pure functions over plain maps, so they test in isolation.

import type { NodeId } from "./types.ts";

export type VoteResult = "pending" | "won" | "lost";

/**
 * The largest index that a majority of `voters` has acknowledged (thesis §3.6: an entry is
 * committed once stored on a majority). Voters missing from `acked` count as 0.
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => number): number {
  if (voters.length === 0) return Number.MAX_SAFE_INTEGER; // no voters: no constraint (etcd)
  const idx = voters.map(acked).sort((a, b) => b - a);
  return idx[Math.floor(voters.length / 2)]!;
}

/** Tallies granted/rejected votes among `voters`; absent votes are still pending. */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  if (voters.length === 0) return "won";
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.length / 2) + 1;
  if (granted >= q) return "won";
  if (granted + missing >= q) return "pending";
  return "lost";
}
