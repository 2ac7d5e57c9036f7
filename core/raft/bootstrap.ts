// How a brand-new cluster starts: every founding member begins with the same snapshot at index
// 1 (term 1) whose membership lists the founders, and a hard state at term 1. A member that
// joins later starts empty and receives that (or a later) snapshot from the leader, so it never
// replays a log without knowing the membership it started from.

import { assert } from "../errors.ts";
import type { HardState, NodeId, Snapshot } from "./types.ts";

export function bootstrapState(voters: readonly NodeId[]): {
  snapshot: Snapshot;
  hardState: HardState;
} {
  assert(voters.length > 0, "a cluster starts with at least one voter");
  assert(new Set(voters).size === voters.length, "founding voters are distinct");
  return {
    snapshot: {
      metadata: {
        index: 1,
        term: 1,
        confState: { voters: [...voters].sort((a, b) => a - b), learners: [] },
      },
      data: new Uint8Array(0),
    },
    hardState: { term: 1, vote: 0, commit: 1 },
  };
}
