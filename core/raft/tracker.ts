// The leader's (and candidate's) bookkeeping over the membership: per-node Progress, votes, and
// quorum questions. Membership changes are single-server (thesis §4.1): any majority of the old
// voters overlaps any majority of the new, so no joint phase is needed.

import { Progress } from "./progress.ts";
import { committedIndex, type VoteResult, voteResult } from "./quorum.ts";
import type { ConfChange, ConfState, NodeId } from "./types.ts";

export class ProgressTracker {
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Installs a membership wholesale (start-up or snapshot), with fresh progress. */
  reset(cs: ConfState, nextIndex: number): void {
    this.voters = [...cs.voters].sort((a, b) => a - b);
    this.learners = [...cs.learners].sort((a, b) => a - b);
    this.progress.clear();
    for (const id of this.voters) this.progress.set(id, this.newProgress(nextIndex, false));
    for (const id of this.learners) this.progress.set(id, this.newProgress(nextIndex, true));
  }

  private newProgress(next: number, learner: boolean): Progress {
    const pr = new Progress(next, this.maxInflight, learner);
    // A new member counts as active so the leader may send it a snapshot at once (etcd).
    pr.recentActive = true;
    return pr;
  }

  /** Whether cc is valid against the current membership; a reason when it is not. */
  checkConfChange(cc: ConfChange): string | undefined {
    if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) return `bad node id ${cc.nodeId}`;
    const leavesNoVoter = this.voters.length === 1 && this.voters[0] === cc.nodeId;
    if (cc.type !== "addVoter" && leavesNoVoter) return "it would remove the last voter";
    return undefined;
  }

  /**
   * Switches to a new configuration (membership.ts decides which), keeping the progress of
   * members that stay and starting new members at nextIndex.
   */
  setConfig(cs: ConfState, nextIndex: number): void {
    this.voters = [...cs.voters].sort((a, b) => a - b);
    this.learners = [...cs.learners].sort((a, b) => a - b);
    const members = new Set([...this.voters, ...this.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const learner = this.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr) pr.isLearner = learner;
      else this.progress.set(id, this.newProgress(nextIndex, learner));
    }
  }

  /** Highest index stored on a majority of voters. */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }

  /** Did a majority of voters talk to us recently (check-quorum, thesis §6.2)? */
  quorumActive(self: NodeId): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voters) {
      active.set(id, id === self || this.progress.get(id)?.recentActive === true);
    }
    return voteResult(this.voters, active) === "won";
  }
}
