// Raft as a deterministic state machine (etcd's design): the only inputs are tick(), step(msg)
// and local requests; the only outputs are the outbox (msgs), read states and the log's
// unstable tail, which RawNode hands to the driver as a Ready. No clock, timer, randomness
// (an injected Rng draws election timeouts) or I/O happens here.
//
// Role logic lives beside this file: step-leader.ts, step-follower.ts (follower and both
// candidate roles), replicate.ts (sending appends and snapshot chunks).

import { assert } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Rng } from "../rand.ts";
import { campaign, handleVoteRequest, reaskPreVote } from "./election.ts";
import { RaftLog } from "./log.ts";
import { Membership } from "./membership.ts";
import { msg } from "./message.ts";
import { releasePendingReadIndex } from "./read-index.ts";
import { ReadOnly } from "./read-only.ts";
import { bcastAppend, bcastHeartbeat, sendTimeoutNow } from "./replicate.ts";
import { stepCandidate, stepFollower } from "./step-follower.ts";
import { stepLeader } from "./step-leader.ts";
import type { Storage } from "./storage.ts";
import { ProgressTracker } from "./tracker.ts";
import {
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  NONE,
  type NodeId,
  RaftError,
  type ReadState,
  type SoftState,
  type StateType,
} from "./types.ts";

export interface RaftConfig {
  id: NodeId;
  storage: Storage;
  rng: Rng;
  /** Election timeout in ticks; each term draws a timeout in [electionTicks, 2*electionTicks). */
  electionTicks?: number;
  heartbeatTicks?: number;
  /** The last index the application applied before a restart (default: the snapshot's). */
  applied?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxInflightMsgs?: number;
  maxAppendBytes?: number;
  maxUncommittedBytes?: number;
  maxCommittedBytesPerReady?: number;
  snapshotChunkBytes?: number;
}

export type CampaignType = "preElection" | "election" | "transfer";

type StepFn = (r: Raft, m: Message) => void;

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateType = "follower";
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly membership: Membership;
  readonly rng: Rng;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly maxAppendBytes: number;
  readonly maxUncommittedBytes: number;
  readonly snapshotChunkBytes: number;
  randomizedElectionTimeout = 0;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  leadTransferee: NodeId = NONE;
  /** Index of the last membership change a leader appended; one may pend at a time (§4.1). */
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  readOnly: ReadOnly;
  /** ReadIndex requests waiting for the first commit of this leader's term (§6.4). */
  pendingReadIndexMessages: Message[] = [];
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** Follower: a snapshot being received chunk by chunk. */
  incomingSnapshot: { key: string; chunks: Uint8Array[]; received: number } | undefined;
  private stepFn: StepFn = stepFollower;

  constructor(c: RaftConfig) {
    assert(Number.isSafeInteger(c.id) && c.id > 0, "raft id is a positive integer");
    this.id = c.id;
    this.rng = c.rng;
    this.preVote = c.preVote ?? true;
    this.checkQuorum = c.checkQuorum ?? true;
    this.electionTimeout = c.electionTicks ?? limits.raftElectionTicksDefault;
    this.heartbeatTimeout = c.heartbeatTicks ?? limits.raftHeartbeatTicksDefault;
    assert(this.heartbeatTimeout < this.electionTimeout, "heartbeat ticks < election ticks");
    this.maxAppendBytes = c.maxAppendBytes ?? limits.raftAppendBytesMax;
    this.maxUncommittedBytes = c.maxUncommittedBytes ?? limits.raftUncommittedBytesMax;
    this.snapshotChunkBytes = c.snapshotChunkBytes ?? limits.raftSnapshotChunkBytesMax;
    assert(this.snapshotChunkBytes <= limits.raftSnapshotChunkBytesMax, "snapshot chunk bound");
    const perReady = c.maxCommittedBytesPerReady ?? limits.raftCommittedBytesPerReadyMax;
    this.log = new RaftLog(c.storage, perReady);
    this.tracker = new ProgressTracker(c.maxInflightMsgs ?? limits.raftInflightMessagesMax);
    this.readOnly = new ReadOnly(limits.raftReadIndexPendingMax);
    const { hardState, confState } = c.storage.initialState();
    this.membership = new Membership(confState);
    const first = c.storage.firstIndex();
    const last = c.storage.lastIndex();
    // The configuration in force is the latest in the log, so replay the stable log's (§4.1).
    if (last >= first) this.membership.onAppend(c.storage.entries(first, last + 1, Infinity));
    this.tracker.reset(this.membership.current(), this.log.lastIndex() + 1);
    this.log.onAppend = (ents) => this.onLogAppend(ents);
    this.loadHardState(hardState);
    if (c.applied !== undefined && c.applied > 0) this.log.appliedTo(c.applied);
    this.becomeFollower(this.term, NONE);
  }

  private loadHardState(hs: HardState): void {
    assert(hs.commit <= this.log.lastIndex(), `commit ${hs.commit} beyond ${this.log.lastIndex()}`);
    // A commit index written without fsync may lag a snapshot that was synced: the snapshot's
    // entries are committed by definition, so the larger of the two holds.
    this.log.committed = Math.max(this.log.committed, hs.commit);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /**
   * Voters may campaign, and so may a voter that an uncommitted change removed: it "might still
   * be needed until the C_new entry is committed" (§4.2.2). Its own vote counts only where it
   * is a member (the tally runs over the latest configuration).
   */
  promotable(): boolean {
    if (this.tracker.isVoter(this.id)) return true;
    const last = this.membership.lastChangeIndex();
    return last > this.log.committed && this.membership.at(last - 1).voters.includes(this.id);
  }

  /** Queues a message; fills in our id and, for all but local requests, our term. */
  send(m: Message): void {
    if (m.from === NONE) m.from = this.id; // a forwarded transfer keeps its transferee
    const voteish = m.type === "vote" || m.type === "preVote";
    const isResp = m.type === "voteResp" || m.type === "preVoteResp";
    if (voteish || isResp) {
      // Votes carry the campaign's term; pre-vote responses echo the asked-for term.
      assert(m.term !== 0, `${m.type} needs a term`);
    } else if (m.type !== "prop" && m.type !== "readIndex") {
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  // --- role changes -------------------------------------------------------------------------

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.rng.int(this.electionTimeout);
    this.leadTransferee = NONE;
    this.tracker.votes.clear();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      const learner = pr.isLearner;
      pr.becomeProbe();
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.isLearner = learner;
      pr.recentActive = id === this.id;
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly(limits.raftReadIndexPendingMax);
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.stepFn = stepFollower;
    this.reset(term);
    this.lead = lead;
    this.state = "follower";
  }

  /** Pre-vote (thesis §9.6): ask whether we could win before disturbing anyone's term. */
  becomePreCandidate(): void {
    assert(this.state !== "leader", "leader cannot become pre-candidate");
    this.stepFn = stepCandidate;
    this.tracker.votes.clear();
    this.lead = NONE;
    this.state = "preCandidate";
  }

  becomeCandidate(): void {
    assert(this.state !== "leader", "leader cannot become candidate");
    this.stepFn = stepCandidate;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = "candidate";
  }

  becomeLeader(): void {
    assert(this.state !== "follower", "follower cannot become leader");
    this.stepFn = stepLeader;
    this.reset(this.term);
    this.lead = this.id;
    this.state = "leader";
    this.tracker.progress.get(this.id)?.becomeReplicate();
    // A no-op of our term commits every earlier entry and enables ReadIndex (§3.6.2, §6.4).
    this.appendEntries([{ term: 0, index: 0, type: "normal", data: new Uint8Array(0) }]);
    // No membership change until that no-op commits: earlier changes may still be pending,
    // and a change before our term's first commit can lose a committed entry (§4.1 bug fix).
    this.pendingConfIndex = this.log.lastIndex();
  }

  // --- time -------------------------------------------------------------------------------

  /**
   * The driver saw its connection to the leader break (a crash or a reboot, not a slow link).
   * Forget the leader so peers that saw the same get our pre-vote, and campaign within 1-3
   * ticks instead of waiting out a whole election timeout. Safe: the leader lease only guards
   * liveness against disruptive candidates (§4.2.3); no safety argument rests on it.
   */
  leaderUnreachable(): void {
    if (this.state !== "follower" || this.lead === NONE) return;
    this.becomeFollower(this.term, NONE);
    this.electionElapsed = Math.max(0, this.randomizedElectionTimeout - 1 - this.rng.int(3));
  }

  tick(): void {
    if (this.state === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup("preElection");
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      // Check-quorum (§6.2): a leader cut off from a majority steps down instead of lingering.
      if (this.checkQuorum) this.checkQuorumActive();
      if (this.state === "leader" && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== "leader") return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      bcastHeartbeat(this);
    }
  }

  private checkQuorumActive(): void {
    if (!this.tracker.quorumActive(this.id)) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
  }

  // --- elections ----------------------------------------------------------------------------

  hup(t: CampaignType): void {
    if (this.state === "leader" || !this.promotable()) return;
    this.campaign(this.preVote && t === "preElection" ? "preElection" : t);
  }

  campaign(t: CampaignType): void {
    campaign(this, t);
  }

  poll(id: NodeId, granted: boolean) {
    this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes().result;
  }

  // --- the log ------------------------------------------------------------------------------

  /** Leader: stamps and appends entries, counting our own copy (flushed before any ack). */
  appendEntries(ents: Entry[]): void {
    const last = this.log.lastIndex();
    const stamped = ents.map((e, i) => ({ ...e, term: this.term, index: last + 1 + i }));
    this.log.append(stamped);
    this.tracker.progress.get(this.id)?.maybeUpdate(this.log.lastIndex());
    this.maybeCommit();
  }

  /** Advances the commit index to what a quorum stores, for entries of our term only. */
  maybeCommit(): boolean {
    const committed = this.log.maybeCommit(this.tracker.committed(), this.term);
    if (committed) releasePendingReadIndex(this);
    return committed;
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // --- stepping -----------------------------------------------------------------------------

  step(m: Message): void {
    if (m.term > this.term && !this.stepHigherTerm(m)) return;
    if (m.term !== 0 && m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === "vote" || m.type === "preVote") {
      const granted = handleVoteRequest(this, m);
      if (m.type === "preVote" && !granted) reaskPreVote(this, m.from);
      return;
    }
    this.stepFn(this, m);
    this.maybeStepDownRemoved();
  }

  /** Returns false when the message must be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === "vote" || m.type === "preVote") {
      // Leader lease (§4.2.3): while we hear from a leader, ignore disruptive candidates.
      const inLease =
        this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
      if (!m.transfer && inLease) return false;
    }
    if (m.type === "preVote") return true; // a pre-vote never changes our term
    if (m.type === "preVoteResp" && !m.reject) return true; // the term moves when we win
    const fromLeader = m.type === "app" || m.type === "heartbeat" || m.type === "snap";
    this.becomeFollower(m.term, fromLeader ? m.from : NONE);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    const fromLeader = m.type === "app" || m.type === "heartbeat";
    if ((this.checkQuorum || this.preVote) && fromLeader) {
      // A stale leader partitioned away would otherwise never learn of the new term; with
      // pre-vote/check-quorum we may be ignoring its votes, so tell it (etcd).
      this.send(msg({ type: "appResp", to: m.from }));
    } else if (m.type === "preVote") {
      this.send(msg({ type: "preVoteResp", to: m.from, term: this.term, reject: true }));
    }
  }

  // --- membership ---------------------------------------------------------------------------

  /** The log changed: a membership entry appended (or truncated away) takes effect now. */
  private onLogAppend(ents: readonly Entry[]): void {
    if (!this.membership.onAppend(ents)) return;
    this.tracker.setConfig(this.membership.current(), this.log.lastIndex() + 1);
    if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
  }

  /** A snapshot replaced the log, and with it the configuration. */
  restoreMembership(cs: ConfState): void {
    this.membership.restore(cs);
    this.tracker.reset(cs, this.log.lastIndex() + 1);
  }

  /**
   * A leader outside its own configuration keeps leading until that configuration commits
   * (§4.2.2: it must still replicate the entry), then steps down.
   */
  private maybeStepDownRemoved(): void {
    if (this.state !== "leader" || this.tracker.isVoter(this.id)) return;
    if (this.log.committed < this.membership.lastChangeIndex()) return;
    this.stepDownAfterRemoval();
  }

  /**
   * Removed or demoted and the change committed: stop leading. The commit index went out with
   * the last appends; hand over to the most up-to-date voter so no election timeout is lost.
   */
  private stepDownAfterRemoval(): void {
    bcastAppend(this);
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const id of this.tracker.voters) {
      const match = this.tracker.progress.get(id)?.match ?? 0;
      if (id !== this.id && match > bestMatch) [best, bestMatch] = [id, match];
    }
    if (best !== NONE && bestMatch === this.log.lastIndex()) sendTimeoutNow(this, best);
    this.becomeFollower(this.term, NONE);
  }

  /** The configuration in force as of log index i (for snapshots taken at i). */
  confStateAt(i: number): ConfState {
    return this.membership.at(i);
  }

  /** Checks a local request is acceptable before it is proposed; throws RaftError if not. */
  checkProposable(): void {
    if (this.state !== "leader" && this.lead === NONE) {
      throw new RaftError("proposalDropped", "no leader is known; retry later", true);
    }
  }
}
