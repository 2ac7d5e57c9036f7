// The leader's view of one follower: how far its log matches, what to send next, and how much
// is in flight. Three states (etcd): probe (one append per heartbeat until the match point is
// found), replicate (optimistic pipelining within the in-flight window), snapshot (the log the
// follower needs is compacted; snapshot chunks are streamed and appends pause).

import { Inflights } from "./inflights.ts";
import type { Snapshot } from "./types.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** Probe state: an append was sent since the last heartbeat response; wait. */
  probeSent = false;
  /** Heard from since the last check-quorum round (thesis §6.2). */
  recentActive = false;
  /** Snapshot state: the snapshot being streamed, and bytes the follower confirmed. */
  pendingSnapshot: Snapshot | undefined;
  snapshotAcked = 0;
  snapshotChunkInFlight = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = undefined;
    this.snapshotAcked = 0;
    this.snapshotChunkInFlight = false;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot's entries.
    const snapIndex = this.pendingSnapshot?.metadata.index ?? 0;
    this.resetState("probe");
    this.next = Math.max(this.match + 1, snapIndex + 1);
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snap: Snapshot): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snap;
  }

  /** An append up to `lastIndex` was sent. */
  sentEntries(lastIndex: number, count: number): void {
    if (this.state === "replicate") {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** The follower acknowledged entries up to n; returns false for a stale acknowledgement. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; its last index is `hint`. Returns false when
   * the rejection is stale (answers an older probe).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Whether appends to this follower must wait (flow control). */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  describe(): string {
    const snap = this.pendingSnapshot ? ` snap=${this.pendingSnapshot.metadata.index}` : "";
    const learner = this.isLearner ? " learner" : "";
    return `${this.state} match=${this.match} next=${this.next}${snap}${learner}`;
  }
}
