// Secure mode: a Raft peer's certificate is bound to the Raft id it claims. Every manager
// certificate passes the transport's TLS check (OU=manager, this cluster, not revoked), so
// without this a manager could send Raft messages as any other member (votes, appends) by
// claiming its id in the hello. The store records which node owns each Raft id
// (Node.managerStatus.raftId, node id = the certificate's CN): a peer claiming id N must
// present the certificate of N's owner.

import type { Node } from "../../core/model/types.ts";
import type { Store } from "../../core/store/store.ts";

export interface RaftOwners {
  /** The node id owning this Raft id, if the store knows it. */
  ownerOf(raftId: number): string | undefined;
  /** The Raft id this node owns, if the store knows it. */
  raftIdOf(nodeId: string): number | undefined;
}

/**
 * Why the certificate of `nodeId` may not speak for `raftId`, or undefined when it may. An id
 * the store knows must be claimed by its owner; a node the store knows as owner of another id
 * may not claim this one. Both unknown (a joining manager whose store is still catching up
 * hears from members it has not read about yet) is allowed: the certificate has already
 * passed as a manager of this cluster, not revoked.
 */
export function raftBindingProblem(
  owners: RaftOwners,
  raftId: number,
  nodeId: string,
): string | undefined {
  const owner = owners.ownerOf(raftId);
  if (owner !== undefined)
    return owner === nodeId
      ? undefined
      : `raft id ${raftId} belongs to node ${owner}, the certificate names ${nodeId}`;
  const other = owners.raftIdOf(nodeId);
  if (other !== undefined && other !== raftId)
    return `node ${nodeId} owns raft id ${other}, not ${raftId}`;
  return undefined;
}

/** Owners as the store records them now (managers and demoted managers still in the group). */
export function storeRaftOwners(store: Store): RaftOwners {
  // Rebuilt when the store changes; a peer connection is rare, agents' writes frequent.
  let seen = -1;
  let byRaft = new Map<number, string>();
  let byNode = new Map<string, number>();
  const fresh = () => {
    const rev = store.index;
    if (rev === seen) return;
    seen = rev;
    byRaft = new Map();
    byNode = new Map();
    const nodes: Node[] = store.view((tx) => tx.find("nodes"));
    for (const n of nodes) {
      const raftId = Number(n.managerStatus?.raftId);
      if (!n.managerStatus || !Number.isSafeInteger(raftId)) continue;
      byRaft.set(raftId, n.id);
      byNode.set(n.id, raftId);
    }
  };
  return {
    ownerOf: (raftId) => {
      fresh();
      return byRaft.get(raftId);
    },
    raftIdOf: (nodeId) => {
      fresh();
      return byNode.get(nodeId);
    },
  };
}
