// The Raft log as the core sees it: stable Storage below, the Unstable tail above, and the
// commit and applied cursors. Invariant: applied <= committed <= lastIndex.

import { assert } from "../errors.ts";
import { limitSize, type Storage } from "./storage.ts";
import { type Entry, isRaftError, RaftError, type Snapshot } from "./types.ts";
import { Unstable } from "./unstable.ts";

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** Told of every append (entries from ents[0].index on replace the tail). */
  onAppend: (ents: readonly Entry[]) => void = () => {};

  constructor(
    readonly storage: Storage,
    readonly maxCommittedBytesPerReady: number,
  ) {
    const first = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    // The snapshot's entries are committed and applied by definition.
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry i; throws RaftError "compacted"/"unavailable" outside the log. */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new RaftError("compacted", `term of ${i}: compacted below ${dummy}`);
    if (i > this.lastIndex()) throw new RaftError("unavailable", `term of ${i}: beyond log`);
    return this.unstable.maybeTerm(i) ?? this.storage.term(i);
  }

  /** Term of entry i, or 0 when i is outside the log (never matches a real term). */
  termOrZero(i: number): number {
    // Checked up front: followers ask about indexes past their log for every appended entry,
    // and building an Error per entry was measurable in the commit path.
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return 0;
    try {
      return this.term(i);
    } catch (err) {
      if (isRaftError(err, "compacted") || isRaftError(err, "unavailable")) return 0;
      throw err;
    }
  }

  matchTerm(i: number, t: number): boolean {
    return this.termOrZero(i) === t;
  }

  /**
   * Appends entries from a leader whose entry before them is (index, logTerm), if that entry
   * matches ours (the consistency check, thesis §3.5). Returns the new last index or undefined.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]) {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed ${this.committed}`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    assert(ents[0]!.index - 1 >= this.committed, "append: would overwrite committed entries");
    this.unstable.truncateAndAppend(ents);
    this.onAppend(ents);
    return this.lastIndex();
  }

  /** First index whose term differs from ours (or that is new); 0 when all match. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  unstableEntries(): Entry[] {
    return [...this.unstable.entries];
  }

  hasNextCommittedEnts(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommittedEnts(): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, this.maxCommittedBytesPerReady);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Commit only entries of the current term by counting replicas (thesis §3.6.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  commitTo(i: number): void {
    if (i <= this.committed) return; // never decrease
    assert(i <= this.lastIndex(), `commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, `applied ${i} out of range`);
    this.applied = i;
  }

  /** Is a log ending at (lastIndex, term) at least as up-to-date as ours (thesis §3.6.1)? */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ours = this.lastTerm();
    return term > ours || (term === ours && lastIndex >= this.lastIndex());
  }

  /** Entries from lo on, up to maxBytes (at least one). Throws "compacted" below the log. */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError("compacted", `entry ${lo} is compacted`);
    assert(hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) beyond the log`);
    if (lo === hi) return [];
    const off = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < off) ents = this.storage.entries(lo, Math.min(hi, off), maxBytes);
    if (hi > off && (lo >= off || ents.length === Math.min(hi, off) - lo)) {
      ents = ents.concat(this.unstable.slice(Math.max(lo, off), hi));
    }
    return limitSize(ents, maxBytes);
  }

  /** Replaces the log with a snapshot from the leader (thesis §5.3). */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }
}
