// RawNode: the driver's handle on Raft (etcd's contract). The driver loop is:
//
//   on timer: node.tick();  on message: node.step(m);  on request: node.propose(data)
//   while (node.hasReady()) {
//     const rd = node.ready();
//     persist rd.snapshot, rd.entries, rd.hardState (fsync when rd.mustSync)   // §3.8
//     send rd.messages                                                       // after persisting
//     apply rd.snapshot, then rd.committedEntries ("conf" entries need no action: membership
//     takes effect when an entry is appended, thesis §4.1; snapshot with confStateAt(index))
//     node.advance(rd);
//   }
//
// Call nothing else between ready() and advance(). Requests that cannot be honoured throw a
// RaftError with a stable code; malformed or stale peer messages are dropped silently.

import { assert } from "../errors.ts";
import { limits } from "../limits.ts";
import { encodeConfChange } from "./confchange.ts";
import { msg } from "./message.ts";
import { Raft, type RaftConfig } from "./raft.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  entryOverheadBytes,
  type HardState,
  isHardStateEqual,
  type Message,
  NONE,
  type NodeId,
  RaftError,
  type Ready,
  type SoftState,
  type StateType,
} from "./types.ts";

export interface ProgressStatus {
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  isLearner: boolean;
  recentActive: boolean;
}

export interface Status {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  leadTransferee: NodeId;
  /** Per-member progress; only on the leader. */
  progress?: Map<NodeId, ProgressStatus>;
  /** Membership as of the applied index: what a snapshot taken now must record. */
  confState: ConfState;
  /** Membership in force now: the latest in the log, applied or not (thesis §4.1). */
  currentConfState: ConfState;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = this.raft.softState();
    this.prevHard = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.raft.hup("preElection");
  }

  /** Steps a message from a peer. Local-only message types from the network are dropped. */
  step(m: Message): void {
    if (m.from === NONE || m.from === this.raft.id) return;
    if (m.type === "prop" && m.term !== 0) return;
    this.raft.step(m);
  }

  /**
   * Proposes an application entry. Throws "proposalTooLarge" when the entry exceeds
   * limits.raftEntryBytesMax and "proposalDropped" (retryable) when it cannot be taken now.
   * Acceptance is not commitment: the entry commits when it shows in committedEntries.
   */
  propose(data: Uint8Array): void {
    this.proposeEntry({ term: 0, index: 0, type: "normal", data });
  }

  /** Proposes a membership change (leader only, one pending at a time, thesis §4.1). */
  proposeConfChange(cc: ConfChange): void {
    const r = this.raft;
    if (r.state !== "leader")
      throw new RaftError("notLeader", "propose membership changes on the leader");
    const invalid = r.tracker.checkConfChange(cc);
    if (invalid) throw new RaftError("invalidArgument", `membership change refused: ${invalid}`);
    // One change at a time, and only after an entry of this term committed (§4.1, §4.3).
    if (r.pendingConfIndex > r.log.committed) {
      throw new RaftError("confChangePending", "a membership change is still pending", true);
    }
    this.proposeEntry({ term: 0, index: 0, type: "conf", data: encodeConfChange(cc) });
    r.pendingConfIndex = r.log.lastIndex();
  }

  private proposeEntry(e: Entry): void {
    const bytes = e.data.length + entryOverheadBytes;
    if (bytes > limits.raftEntryBytesMax) {
      throw new RaftError(
        "proposalTooLarge",
        `entry of ${bytes} bytes exceeds ${limits.raftEntryBytesMax}; split the write`,
      );
    }
    const r = this.raft;
    if (r.state === "leader") {
      if (!r.tracker.progress.has(r.id)) {
        throw new RaftError("proposalDropped", "this leader was removed; retry on the next", true);
      }
      if (r.leadTransferee !== NONE) {
        throw new RaftError("proposalDropped", "leadership is being transferred; retry", true);
      }
      if (r.uncommittedBytes + e.data.length > r.maxUncommittedBytes) {
        throw new RaftError("proposalDropped", "too many uncommitted bytes; retry later", true);
      }
    } else if (r.state !== "follower" || r.lead === NONE) {
      throw new RaftError("proposalDropped", "no leader is known; retry later", true);
    }
    r.step(msg({ type: "prop", to: r.id, from: r.id, entries: [e] }));
  }

  /** Asks for a linearizable read point; the answer arrives in Ready.readStates (§6.4). */
  readIndex(context: Uint8Array): void {
    const r = this.raft;
    if (r.state !== "leader" && r.lead === NONE) {
      throw new RaftError("proposalDropped", "no leader is known; retry later", true);
    }
    r.step(msg({ type: "readIndex", to: r.id, from: r.id, context }));
  }

  /** The connection to the leader dropped: stop honouring its lease and campaign soon. */
  leaderUnreachable(): void {
    this.raft.leaderUnreachable();
  }

  /** Asks the leader to hand leadership to `transferee` (§3.10). */
  transferLeader(transferee: NodeId): void {
    this.raft.step(msg({ type: "transferLeader", to: this.raft.id, from: transferee, term: 0 }));
  }

  /**
   * For etcd-style drivers: nothing to do, the change took effect when its entry was appended
   * (thesis §4.1). Returns the configuration in force now.
   */
  applyConfChange(_cc: ConfChange): ConfState {
    return this.raft.tracker.confState();
  }

  /** The membership as of log index i: what a snapshot taken at applied index i records. */
  confStateAt(i: number): ConfState {
    return this.raft.confStateAt(i);
  }

  hasReady(): boolean {
    const r = this.raft;
    const soft = r.softState();
    if (soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state) return true;
    if (!isHardStateEqual(r.hardState(), this.prevHard)) return true;
    if (r.log.unstable.snapshot || r.log.unstable.entries.length > 0) return true;
    return r.msgs.length > 0 || r.readStates.length > 0 || r.log.hasNextCommittedEnts();
  }

  /** What to persist, send and apply; takes ownership of the outbox. Follow with advance(). */
  ready(): Ready {
    const r = this.raft;
    const soft = r.softState();
    const hard = r.hardState();
    const rd: Ready = {
      readStates: r.readStates,
      entries: r.log.unstableEntries(),
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextCommittedEnts(),
      messages: r.msgs,
      mustSync: false,
    };
    if (soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state) {
      rd.softState = soft;
      this.prevSoft = soft;
    }
    if (!isHardStateEqual(hard, this.prevHard)) {
      rd.hardState = hard;
    }
    const termOrVote = hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote;
    rd.mustSync = termOrVote || rd.entries.length > 0 || rd.snapshot !== undefined;
    this.prevHard = hard;
    r.msgs = [];
    r.readStates = [];
    return rd;
  }

  /** The Ready was persisted, sent and applied. */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.snapshot) {
      r.log.unstable.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > r.log.applied) r.log.applied = rd.snapshot.metadata.index;
    }
    const lastEnt = rd.entries.at(-1);
    if (lastEnt) r.log.unstable.stableTo(lastEnt.index, lastEnt.term);
    const lastApplied = rd.committedEntries.at(-1);
    if (lastApplied) {
      r.log.appliedTo(lastApplied.index);
      if (r.state === "leader") reduceUncommitted(r, rd.committedEntries);
    }
  }

  status(): Status {
    const r = this.raft;
    const s: Status = {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.log.applied,
      leadTransferee: r.leadTransferee,
      confState: r.confStateAt(r.log.applied),
      currentConfState: r.tracker.confState(),
    };
    if (r.state === "leader") {
      s.progress = new Map();
      for (const [id, pr] of r.tracker.progress) {
        const { match, next, state, isLearner, recentActive } = pr;
        s.progress.set(id, { match, next, state, isLearner, recentActive });
      }
    }
    return s;
  }

  get state(): StateType {
    return this.raft.state;
  }
}

function reduceUncommitted(r: Raft, ents: Entry[]): void {
  let bytes = 0;
  for (const e of ents) bytes += e.data.length;
  r.uncommittedBytes = Math.max(0, r.uncommittedBytes - bytes);
  assert(r.uncommittedBytes >= 0, "uncommitted bytes never negative");
}
