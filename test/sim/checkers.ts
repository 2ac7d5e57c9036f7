// Safety invariants of Raft (thesis §3.6, Figure 3.2), checked as the simulation runs:
//  - election safety: at most one leader per term;
//  - log matching: an (index, term) pair names one entry, with one predecessor term;
//  - leader completeness: a new leader's log holds every entry committed so far;
//  - state machine safety: every node applies the same entry at each index;
//  - no acknowledged write lost: every acknowledged write stays applied where it was.
// A violation throws SafetyViolation; the simulator reports it with the seed.

import type { Entry, NodeId } from "../../core/raft/index.ts";

export class SafetyViolation extends Error {
  constructor(invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = "SafetyViolation";
  }
}

/** An entry's identity: term plus content, so a mutated payload is caught too. */
function identity(e: Entry): string {
  let h = 0x811c9dc5;
  for (const b of e.data) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `${e.term}:${e.type}:${e.data.length}:${h.toString(16)}`;
}

/** The view of one node's log the checker needs (so it stays independent of the driver). */
export interface LogView {
  /** Term of entry i, or undefined when it is compacted or absent. */
  term(i: number): number | undefined;
  /** Index of the snapshot the log starts after (entries up to it are committed state). */
  snapshotIndex(): number;
}

export class SafetyChecker {
  private readonly leaders = new Map<number, NodeId>();
  /** (index:term) -> entry identity and predecessor term. */
  private readonly entries = new Map<string, { id: string; prevTerm: number | undefined }>();
  /** Committed index -> term, as observed from any node's persisted commit. */
  private readonly committed = new Map<number, number>();
  private maxCommitted = 0;
  /** Per node: the commit index up to which its log was already checked. */
  private readonly checkedCommit = new Map<NodeId, number>();
  /** Applied index -> entry identity. */
  private readonly applied = new Map<number, string>();
  checks = 0;
  elections = 0;

  onLeader(id: NodeId, term: number, log: LogView): void {
    this.checks++;
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) {
      throw new SafetyViolation("election safety", `term ${term} has leaders ${prev} and ${id}`);
    }
    if (prev === undefined) this.elections++;
    this.leaders.set(term, id);
    for (let i = log.snapshotIndex() + 1; i <= this.maxCommitted; i++) {
      const want = this.committed.get(i);
      if (want === undefined) continue;
      const got = log.term(i);
      if (got !== want) {
        throw new SafetyViolation(
          "leader completeness",
          `leader ${id} of term ${term} has term ${got} at committed index ${i} (want ${want})`,
        );
      }
    }
  }

  /** Entries a node persisted, with the term of the entry before the first. */
  onPersist(id: NodeId, ents: readonly Entry[], prevTerm: number | undefined): void {
    this.checks++;
    let before = prevTerm;
    for (const e of ents) {
      const key = `${e.index}:${e.term}`;
      const seen = this.entries.get(key);
      const mine = { id: identity(e), prevTerm: before };
      if (!seen) this.entries.set(key, mine);
      else if (seen.id !== mine.id) {
        throw new SafetyViolation("log matching", `node ${id}: entry ${key} differs in content`);
      } else if (seen.prevTerm !== undefined && before !== undefined && seen.prevTerm !== before) {
        throw new SafetyViolation(
          "log matching",
          `node ${id}: entry ${key} follows term ${before}, elsewhere term ${seen.prevTerm}`,
        );
      }
      before = e.term;
    }
  }

  /** A node persisted commit index `commit`; its log gives the terms up to it. */
  onCommit(id: NodeId, commit: number, log: LogView): void {
    this.checks++;
    const from = Math.max(log.snapshotIndex(), this.checkedCommit.get(id) ?? 0) + 1;
    for (let i = from; i <= commit; i++) {
      const t = log.term(i);
      if (t === undefined) continue;
      const want = this.committed.get(i);
      if (want === undefined) this.committed.set(i, t);
      else if (want !== t) {
        throw new SafetyViolation(
          "state machine safety",
          `node ${id} committed term ${t} at index ${i}, another node term ${want}`,
        );
      }
    }
    this.maxCommitted = Math.max(this.maxCommitted, commit);
    this.checkedCommit.set(id, Math.max(commit, this.checkedCommit.get(id) ?? 0));
  }

  /** A node restarted or installed a snapshot: re-check its commits from scratch. */
  forget(id: NodeId): void {
    this.checkedCommit.delete(id);
  }

  onApply(id: NodeId, e: Entry): void {
    this.checks++;
    const got = identity(e);
    const want = this.applied.get(e.index);
    if (want === undefined) this.applied.set(e.index, got);
    else if (want !== got) {
      throw new SafetyViolation(
        "state machine safety",
        `node ${id} applied ${got} at ${e.index}, others ${want}`,
      );
    }
  }

  /** An acknowledged write must stay in a node's log (unless compacted into a snapshot). */
  checkAcknowledged(id: NodeId, index: number, term: number, log: LogView): void {
    this.checks++;
    if (index <= log.snapshotIndex()) return;
    const got = log.term(index);
    if (got !== term) {
      throw new SafetyViolation(
        "acknowledged write lost",
        `node ${id} has term ${got} at acknowledged index ${index} (want ${term})`,
      );
    }
  }

  appliedIdentity(index: number): string | undefined {
    return this.applied.get(index);
  }
}
