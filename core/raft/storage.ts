// Storage is what the Raft core *reads*: the stable log, hard state and latest snapshot. The
// driver writes to it (persisting each Ready) and the core never does. MemoryStorage is the
// reference implementation; the disk one in manager/raft must pass the same suite
// (test/raft/storage-suite.ts). All methods are synchronous: the core is a pure state machine,
// so a disk implementation serves reads from memory (or synchronous reads) and does its slow
// work (fsync) when the driver persists a Ready.

import { assert } from "../errors.ts";
import {
  type ConfState,
  type Entry,
  emptyHardState,
  entryBytes,
  type HardState,
  RaftError,
  type Snapshot,
} from "./types.ts";

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

/**
 * The writes a driver makes, in the shape the shared suite drives. A disk implementation may
 * return promises (it fsyncs); MemoryStorage returns synchronously.
 */
export interface WritableStorage extends Storage {
  setHardState(hs: HardState): void | Promise<void>;
  append(entries: readonly Entry[]): void | Promise<void>;
  applySnapshot(snap: Snapshot): void | Promise<void>;
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot | Promise<Snapshot>;
  compact(compactIndex: number): void | Promise<void>;
}

export interface Storage {
  /** The saved hard state and the membership as of the latest snapshot. */
  initialState(): InitialState;
  /**
   * Entries [lo, hi). Returns at least one entry when lo < hi, then stops before the total would
   * exceed maxBytes (see entryBytes). Throws RaftError "compacted" when lo < firstIndex() and
   * "unavailable" when hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Term of entry i, for firstIndex()-1 <= i <= lastIndex() (firstIndex()-1 is the snapshot's
   * index). Throws "compacted" below that range and "unavailable" above it.
   */
  term(i: number): number;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): number;
  /** The most recent snapshot. May throw "snapshotTemporarilyUnavailable". */
  snapshot(): Snapshot;
}

/** Cuts `ents` so that their byte total stays within maxBytes, always keeping the first. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entryBytes(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryBytes(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

export class MemoryStorage implements WritableStorage {
  private hardState: HardState = emptyHardState();
  private snap: Snapshot;
  /** ents[0] is a dummy holding the snapshot's index and term. */
  private ents: Entry[];

  constructor() {
    this.snap = {
      metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
      data: new Uint8Array(0),
    };
    this.ents = [dummy(0, 0)];
  }

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: cloneConf(this.snap.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new RaftError("compacted", `entry ${lo} is compacted`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError("unavailable", `entries up to ${hi - 1} beyond last ${this.lastIndex()}`);
    }
    assert(lo <= hi, "entries: lo <= hi");
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new RaftError("compacted", `term of ${i}: compacted`);
    if (i - offset >= this.ents.length) throw new RaftError("unavailable", `term of ${i}`);
    return this.ents[i - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new RaftError("snapshotOutOfDate", `snapshot ${snap.metadata.index} is out of date`);
    }
    this.snap = snap;
    this.ents = [dummy(snap.metadata.index, snap.metadata.term)];
  }

  /**
   * Records a snapshot of the state machine at index i (which must be applied, hence in the
   * log). Does not compact: call compact() for that, possibly keeping a tail.
   */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) {
      throw new RaftError("snapshotOutOfDate", `snapshot at ${i} is out of date`);
    }
    if (i > this.lastIndex()) throw new RaftError("unavailable", `snapshot at ${i} beyond log`);
    const term = this.term(i);
    this.snap = { metadata: { index: i, term, confState: cloneConf(confState) }, data };
    return this.snap;
  }

  /** Discards entries before compactIndex (which becomes the dummy entry). */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset)
      throw new RaftError("compacted", `already compacted past ${compactIndex}`);
    if (compactIndex > this.lastIndex()) {
      throw new RaftError("unavailable", `compact ${compactIndex} beyond last ${this.lastIndex()}`);
    }
    const i = compactIndex - offset;
    this.ents = [dummy(this.ents[i]!.index, this.ents[i]!.term), ...this.ents.slice(i + 1)];
  }

  /**
   * Appends entries, truncating any conflicting suffix (a new leader overwrote it). Entries
   * already compacted are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    const ents = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = ents[0]!.index - this.ents[0]!.index;
    assert(offset <= this.ents.length, `append: gap (offset ${offset}, have ${this.ents.length})`);
    // Truncate the conflicting suffix (if any), then extend in place.
    this.ents.length = offset;
    for (const e of ents) this.ents.push({ ...e });
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: "normal", data: new Uint8Array(0) };
}

export function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}
