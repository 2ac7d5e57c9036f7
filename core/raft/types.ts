// The data Raft exchanges with its driver: log entries, persistent state, snapshots, messages.
// Plain objects only (CBOR-encodable as they are); this file holds no behaviour beyond sizing.
//
// Node ids are positive safe integers (0 means "none"), as in etcd. A manager's string node id
// maps to its raft id through `managerStatus.raftId`; numbers keep the core's maps, sorting and
// messages small and let the driver use the id directly as a transport key.

import { FleetError } from "../errors.ts";

export type NodeId = number;
/** "No node": no vote cast, no leader known. */
export const NONE: NodeId = 0;

export type EntryType = "normal" | "conf";

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Application payload, or an encoded ConfChange when type is "conf". */
  data: Uint8Array;
}

/** What must be on stable storage before any message built from it is sent (thesis §3.8). */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

/**
 * One membership change. Promote a learner with addVoter; demote a voter with addLearner.
 * Changes are single-server (thesis §4.1) and at most one is pending at a time.
 */
export type ConfChangeType = "addVoter" | "addLearner" | "removeNode";

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
}

export type MessageType =
  | "prop" // a proposal forwarded from a follower to its leader
  | "app"
  | "appResp"
  | "preVote"
  | "preVoteResp"
  | "vote"
  | "voteResp"
  | "snap" // one chunk of a snapshot
  | "snapResp" // bytes of the snapshot received so far
  | "heartbeat"
  | "heartbeatResp"
  | "transferLeader"
  | "timeoutNow"
  | "readIndex"
  | "readIndexResp";

export interface SnapshotChunk {
  metadata: SnapshotMetadata;
  offset: number;
  totalBytes: number;
  data: Uint8Array;
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** Term of the entry at `index` (app), or the candidate's last log term (vote). */
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** On a rejected append: the follower's last index, so the leader can skip back at once. */
  rejectHint: number;
  snapshot?: SnapshotChunk;
  /** ReadIndex request context, carried by heartbeats and read responses. */
  context?: Uint8Array;
  /** Set on votes triggered by a leader transfer: they bypass the leader lease (§3.10). */
  transfer?: boolean;
}

export type StateType = "follower" | "preCandidate" | "candidate" | "leader";

export interface SoftState {
  lead: NodeId;
  state: StateType;
}

/** The index a read with this context may be served at, once the state machine reaches it. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

export interface Ready {
  /** Present when leader or role changed; need not be persisted. */
  softState?: SoftState;
  /** Present when changed; persist before sending messages. */
  hardState?: HardState;
  readStates: ReadState[];
  /** Entries to append to stable storage before sending messages. */
  entries: Entry[];
  /** A snapshot to persist and apply before the entries. */
  snapshot?: Snapshot;
  /** Entries to apply to the state machine, after persisting. */
  committedEntries: Entry[];
  /** To send after persisting. */
  messages: Message[];
  /** Whether the writes above must be fsync'd (false when only the commit index moved). */
  mustSync: boolean;
}

/** Fixed overhead counted per entry on top of its payload, for every byte limit. */
export const entryOverheadBytes = 24;

export function entryBytes(e: Entry): number {
  return e.data.length + entryOverheadBytes;
}

export function entriesBytes(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entryBytes(e);
  return n;
}

export function emptyHardState(): HardState {
  return { term: 0, vote: NONE, commit: 0 };
}

export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function emptySnapshot(): Snapshot {
  return {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: new Uint8Array(0),
  };
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

/** Errors the core and storages raise; `code` is stable for callers to switch on. */
export type RaftErrorCode =
  | "compacted" // the requested index precedes the first index (read the snapshot instead)
  | "unavailable" // the requested index is beyond the last index
  | "snapshotOutOfDate"
  | "snapshotTemporarilyUnavailable"
  | "proposalTooLarge"
  | "proposalDropped" // no leader, leader transfer in progress, or uncommitted log too big
  | "confChangePending"
  | "notLeader"
  | "invalidArgument";

export class RaftError extends FleetError {
  override readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, message: string, retryable = false) {
    super("raft", code, message, retryable);
    this.name = "RaftError";
    this.code = code;
  }
}

export function isRaftError(err: unknown, code: RaftErrorCode): boolean {
  return err instanceof RaftError && err.code === code;
}
