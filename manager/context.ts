// What the API and the leader's components get from the manager daemon: the replicated store,
// the write path, consensus facts, and injected time and ids. Tests build one with a LocalWriter
// and a fake clock; the daemon builds one around its RaftNode.

import type { Store } from "../core/store/store.ts";
import type { StoreWriter } from "../core/store/writer.ts";
import type { Logger } from "./log.ts";

export interface ManagerInfo {
  /** This manager's node id (the Node object's id) and Raft id. */
  nodeId: string;
  raftId: number;
  clusterId: string;
}

export interface ConsensusView {
  isLeader(): boolean;
  /** Raft id of the current leader, 0 when none is known. */
  leader(): number;
  term(): number;
  /** Resolves once a read from the local store is linearizable (ReadIndex). */
  linearizable(): Promise<void>;
}

export interface ManagerContext {
  info: ManagerInfo;
  store: Store;
  writer: StoreWriter;
  consensus: ConsensusView;
  now(): number;
  /** A new random object id (25 lowercase base-32 characters, like swarm's). */
  newId(): string;
  log: Logger;
}

/** A single-process context for tests and tools: always the leader, local writes. */
export function standaloneConsensus(): ConsensusView {
  return {
    isLeader: () => true,
    leader: () => 1,
    term: () => 1,
    linearizable: async () => {},
  };
}
