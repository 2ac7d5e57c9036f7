// DiskStorage: Raft's Storage on disk. The core reads it synchronously from memory (a
// MemoryStorage rebuilt from the WAL at start, like etcd's); the driver persists each Ready
// with `save()`: snapshot file first, then one WAL batch and one fsync, then memory. It must
// never let the core read an entry, vote or term before it is durable (thesis §3.8), and it
// releases WAL segments only once a durable snapshot covers every entry in them.

import { join } from "node:path";
import type { WritableStorage } from "../../core/raft/storage.ts";
import { cloneConf, type InitialState, type MemoryStorage } from "../../core/raft/storage.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../../core/raft/types.ts";
import { emptySnapshot, isEmptySnapshot, RaftError } from "../../core/raft/types.ts";
import type { StorageRecord } from "./disk-storage-replay.ts";
import {
  entryRecord,
  hardStateRecord,
  parseRecord,
  ReplayError,
  replay,
  snapshotMarkers,
  snapshotRecord,
} from "./disk-storage-replay.ts";
import { SnapshotFileError, SnapshotFiles } from "./snapshot-files.ts";
import type { TornTail, WalPosition, WalRecord } from "./wal.ts";
import { segmentFileName, Wal } from "./wal.ts";

export interface DiskStorageOptions {
  /** WAL rotation bound (tests shrink it); defaults to limits.walSegmentBytesMax. */
  segmentBytesMax?: number;
  /** Snapshot files kept; defaults to limits.snapshotFilesKept. */
  snapshotsKept?: number;
  log?: (line: string) => void;
}

/** One Ready's worth of writes. */
export interface StorageWrite {
  hardState?: HardState;
  entries?: readonly Entry[];
  snapshot?: Snapshot;
  /** Ready.mustSync: false when only the commit index moved; defaults to true. */
  mustSync?: boolean;
}

/** What start-up recovery found and did, for the operator's log. */
export interface DiskRecovery {
  torn: TornTail | undefined;
  /** Snapshot files the log named but that could not be loaded, with the reason. */
  skippedSnapshots: string[];
  records: number;
}

export class DiskStorage implements WritableStorage {
  readonly dir: string;
  readonly recovery: DiskRecovery;
  readonly #wal: Wal;
  readonly #snaps: SnapshotFiles;
  #memory: MemoryStorage;
  readonly #segmentMaxIndex: Map<number, number>;
  #pendingMaxIndex = 0;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(parts: Parts) {
    this.dir = parts.dir;
    this.recovery = parts.recovery;
    this.#wal = parts.wal;
    this.#snaps = parts.snaps;
    this.#memory = parts.memory;
    this.#segmentMaxIndex = parts.segmentMaxIndex;
  }

  /** Opens `<dataDir>/raft/{wal,snap}`, recovering the stable state (or starting empty). */
  static async open(dataDir: string, options: DiskStorageOptions = {}): Promise<DiskStorage> {
    const log = options.log ?? console.warn;
    const dir = join(dataDir, "raft");
    const snaps = await SnapshotFiles.open(join(dir, "snap"), { keep: options.snapshotsKept, log });
    let self: DiskStorage | undefined;
    if (!(await Wal.exists(join(dir, "wal")))) await refuseLostLog(snaps);
    const { wal, records, torn } = await Wal.open(join(dir, "wal"), {
      segmentBytesMax: options.segmentBytesMax,
      log,
      preamble: () => (self ? self.#preamble() : []),
    });
    try {
      const parsed = records.map((r) => parseRecord(r.value, segmentFileName(r.segment)));
      const { snapshot, skipped } = await chooseSnapshot(snaps, snapshotMarkers(parsed), log);
      const typed: WalRecord[] = parsed.map((value, i) => ({ ...records[i]!, value }));
      const { memory, segmentMaxIndex } = replay(typed, snapshot);
      const recovery = { torn, skippedSnapshots: skipped, records: records.length };
      self = new DiskStorage({ dir, recovery, wal, snaps, memory, segmentMaxIndex });
      return self;
    } catch (err) {
      await wal.close();
      throw err;
    }
  }

  // Reads: served from memory, which holds exactly what is durable.
  initialState(): InitialState {
    return this.#memory.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.#memory.entries(lo, hi, maxBytes);
  }
  term(i: number): number {
    return this.#memory.term(i);
  }
  firstIndex(): number {
    return this.#memory.firstIndex();
  }
  lastIndex(): number {
    return this.#memory.lastIndex();
  }
  snapshot(): Snapshot {
    return this.#memory.snapshot();
  }

  /** Where the durable log ends (for metrics, and for crash tests that damage what follows). */
  get walPosition(): WalPosition {
    return this.#wal.position;
  }

  /**
   * Persists one Ready: the snapshot file (atomic), then its marker, the entries and the hard
   * state as one WAL batch with one fsync, and only then makes them visible to reads.
   */
  save(w: StorageWrite): Promise<void> {
    return this.#serial(() => this.#save(w));
  }

  setHardState(hs: HardState): Promise<void> {
    return this.save({ hardState: hs });
  }
  append(entries: readonly Entry[]): Promise<void> {
    return this.save({ entries });
  }
  applySnapshot(snap: Snapshot): Promise<void> {
    return this.save({ snapshot: snap });
  }

  /**
   * Takes a snapshot of the state machine at applied index i: written to its file, recorded in
   * the WAL, then older segments and snapshot files are released. Does not compact memory.
   */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.#serial(async () => {
      const current = this.#memory.snapshot().metadata.index;
      if (i <= current) throw new RaftError("snapshotOutOfDate", `snapshot at ${i} is out of date`);
      if (i > this.lastIndex()) throw new RaftError("unavailable", `snapshot at ${i} beyond log`);
      const metadata = { index: i, term: this.term(i), confState: cloneConf(confState) };
      await this.#snaps.save({ metadata, data });
      this.#wal.append([snapshotRecord(metadata, false)]);
      await this.#syncWal();
      const snap = this.#memory.createSnapshot(i, confState, data);
      await this.#release(i);
      return snap;
    });
  }

  /**
   * Drops entries before compactIndex from memory. On disk, entries go only with the segments a
   * snapshot covers, so after a restart the log starts right after the snapshot.
   */
  compact(compactIndex: number): void {
    this.#memory.compact(compactIndex);
  }

  /** Waits for writes in progress and closes the WAL. */
  async close(): Promise<void> {
    await this.#chain.catch(() => {});
    await this.#wal.close();
  }

  async #save(w: StorageWrite): Promise<void> {
    const snap = w.snapshot && !isEmptySnapshot(w.snapshot) ? w.snapshot : undefined;
    const records: StorageRecord[] = [];
    if (snap) {
      const current = this.#memory.snapshot().metadata.index;
      if (snap.metadata.index <= current) {
        throw new RaftError("snapshotOutOfDate", `snapshot ${snap.metadata.index} is out of date`);
      }
      // The file is durable before the marker that names it (etcd's order).
      await this.#snaps.save(snap);
      records.push(snapshotRecord(snap.metadata, true));
    }
    for (const e of w.entries ?? []) {
      records.push(entryRecord(e));
      this.#pendingMaxIndex = Math.max(this.#pendingMaxIndex, e.index);
    }
    if (w.hardState) records.push(hardStateRecord(w.hardState));
    if (records.length === 0) return;
    this.#wal.append(records);
    if (w.mustSync ?? true) await this.#syncWal();
    if (snap) this.#memory.applySnapshot(snap);
    if (w.entries && w.entries.length > 0) this.#memory.append(w.entries);
    if (w.hardState) this.#memory.setHardState(w.hardState);
    if (snap) await this.#release(snap.metadata.index);
  }

  async #syncWal(): Promise<void> {
    await this.#wal.sync();
    // Everything queued went into the segment current after the sync (rotation comes first).
    const seg = this.#wal.segment;
    const max = Math.max(this.#segmentMaxIndex.get(seg) ?? 0, this.#pendingMaxIndex);
    this.#segmentMaxIndex.set(seg, max);
    this.#pendingMaxIndex = 0;
  }

  /** Releases the oldest segments whose every entry is covered by the snapshot at `index`. */
  async #release(index: number): Promise<void> {
    let before = -1;
    for (const seg of this.#wal.segments) {
      if (seg === this.#wal.segment || (this.#segmentMaxIndex.get(seg) ?? 0) > index) break;
      before = seg + 1;
    }
    if (before < 0) return;
    const removed = await this.#wal.releaseBefore(before);
    for (const seg of removed) this.#segmentMaxIndex.delete(seg);
  }

  /** Written first in every new segment, so released segments take no needed state along. */
  #preamble(): StorageRecord[] {
    const out: StorageRecord[] = [hardStateRecord(this.#memory.initialState().hardState)];
    const meta = this.#memory.snapshot().metadata;
    if (meta.index > 0) out.push(snapshotRecord(meta, false));
    return out;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => {});
    return run;
  }
}

interface Parts {
  dir: string;
  recovery: DiskRecovery;
  wal: Wal;
  snaps: SnapshotFiles;
  memory: MemoryStorage;
  segmentMaxIndex: Map<number, number>;
}

/**
 * A new, empty log beside existing snapshot files means the log was deleted: starting empty
 * would forget this manager's term and vote (thesis §3.8), so refuse. (A crash during the very
 * first save leaves an empty segment, not a missing one, and opens normally.)
 */
async function refuseLostLog(snaps: SnapshotFiles): Promise<void> {
  const files = await snaps.list();
  if (files.length === 0) return;
  throw new ReplayError(
    "wal_missing",
    `no WAL segments but ${files.length} snapshot file(s) in ${snaps.dir}: the log was ` +
      "deleted; restore it from backup or rebuild this manager from a healthy peer",
  );
}

/** The newest snapshot the log names that loads and verifies; older ones are the fallback. */
async function chooseSnapshot(
  snaps: SnapshotFiles,
  markers: readonly { index: number; term: number }[],
  log: (line: string) => void,
): Promise<{ snapshot: Snapshot; skipped: string[] }> {
  const skipped: string[] = [];
  for (const m of markers) {
    try {
      return { snapshot: await snaps.load(m.index, m.term), skipped };
    } catch (err) {
      if (!(err instanceof SnapshotFileError)) throw err;
      skipped.push(err.message);
      log(`disk-storage: skipping snapshot ${m.index} (term ${m.term}): ${err.message}`);
    }
  }
  if (markers.length > 0) {
    throw new ReplayError(
      "snapshot_unreadable",
      `none of the ${markers.length} snapshot(s) the log names can be loaded ` +
        `(${skipped.join("; ")}); rebuild this manager from a healthy peer`,
    );
  }
  return { snapshot: emptySnapshot(), skipped };
}
