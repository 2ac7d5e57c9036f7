// --force-new-cluster: the survivor of a lost quorum restarts as a one-member cluster with every
// committed write it holds. Its committed log is folded into a snapshot whose membership is just
// this node; uncommitted entries are dropped (no quorum ever accepted them). The old members
// must not come back with their old data: they rejoin as new members (as with etcd and swarm).

import { FleetError } from "../../core/errors.ts";
import type { NodeId, Snapshot } from "../../core/raft/types.ts";
import { encodeSnapshot } from "../../core/store/encoding.ts";
import { Store } from "../../core/store/store.ts";
import { applyEntry, applySnapshot } from "./apply.ts";
import type { DiskStorage } from "./disk-storage.ts";

export async function forceNewCluster(
  storage: DiskStorage,
  self: NodeId,
  log: (line: string) => void,
): Promise<void> {
  const { hardState } = storage.initialState();
  const base = storage.snapshot();
  const store = new Store();
  const problem = applySnapshot(store, base);
  if (problem) throw new FleetError("raft", "bad_snapshot", problem);
  const commit = Math.min(hardState.commit, storage.lastIndex());
  const first = base.metadata.index + 1;
  if (commit >= first) {
    for (const e of storage.entries(first, commit + 1, Number.MAX_SAFE_INTEGER))
      applyEntry(store, e);
  }
  // A fresh index past everything in the log, so the snapshot supersedes all of it.
  const index = Math.max(storage.lastIndex(), base.metadata.index) + 1;
  const term = hardState.term + 1;
  const snapshot: Snapshot = {
    metadata: { index, term, confState: { voters: [self], learners: [] } },
    data: encodeSnapshot(store),
  };
  await storage.save({ snapshot, hardState: { term, vote: 0, commit: index } });
  log(
    `raft: forced a new one-member cluster at index ${index} (committed through ${commit}; ` +
      `${storage.lastIndex() - commit} uncommitted entries dropped)`,
  );
}
