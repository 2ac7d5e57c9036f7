// The WAL records DiskStorage writes, and the replay that rebuilds Raft's stable state from
// them on start. Pure: turns already-read records into a MemoryStorage, never touches files.
// A record that passed its checksum but has the wrong shape is a hard error, never skipped.

import { FleetError } from "../../core/errors.ts";
import { MemoryStorage } from "../../core/raft/storage.ts";
import type { Entry, HardState, Snapshot, SnapshotMetadata } from "../../core/raft/types.ts";
import { emptyHardState } from "../../core/raft/types.ts";
import type { WalRecord } from "./wal.ts";

export class ReplayError extends FleetError {
  constructor(
    code: "bad_record" | "log_gap" | "snapshot_unreadable" | "wal_missing",
    message: string,
  ) {
    super("disk-storage", code, message, false);
    this.name = "ReplayError";
  }
}

export interface EntryRecord {
  t: "entry";
  index: number;
  term: number;
  type: Entry["type"];
  data: Uint8Array;
}
export interface HardStateRecord extends HardState {
  t: "hardState";
}
/**
 * The snapshot file at (index, term) is durable. `replace`: it came from the leader and
 * replaced the whole log (entries written before it are stale); otherwise it was taken
 * locally and the log goes on after it.
 */
export interface SnapshotRecord {
  t: "snapshot";
  index: number;
  term: number;
  replace: boolean;
}
export type StorageRecord = EntryRecord | HardStateRecord | SnapshotRecord;

export function entryRecord(e: Entry): EntryRecord {
  return { t: "entry", index: e.index, term: e.term, type: e.type, data: e.data };
}

export function hardStateRecord(hs: HardState): HardStateRecord {
  return { t: "hardState", term: hs.term, vote: hs.vote, commit: hs.commit };
}

export function snapshotRecord(m: SnapshotMetadata, replace: boolean): SnapshotRecord {
  return { t: "snapshot", index: m.index, term: m.term, replace };
}

const isNat = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Checks a decoded record's shape (the CRC proved the bytes, not that fleet understands them). */
export function parseRecord(value: unknown, where: string): StorageRecord {
  const r = value as Record<string, unknown> | null;
  const ok =
    r !== null &&
    typeof r === "object" &&
    ((r.t === "entry" &&
      isNat(r.index) &&
      isNat(r.term) &&
      (r.type === "normal" || r.type === "conf") &&
      r.data instanceof Uint8Array) ||
      (r.t === "hardState" && isNat(r.term) && isNat(r.vote) && isNat(r.commit)) ||
      (r.t === "snapshot" && isNat(r.index) && isNat(r.term) && typeof r.replace === "boolean"));
  if (!ok) {
    throw new ReplayError(
      "bad_record",
      `${where}: unknown WAL record ${JSON.stringify(value)?.slice(0, 120)}; ` +
        "was it written by a newer fleet?",
    );
  }
  if (r.t !== "entry") return r as unknown as StorageRecord;
  const d = r.data as Uint8Array;
  // cbor-x decodes byte strings as Node Buffers; hand the core plain Uint8Array views.
  return {
    ...(r as unknown as EntryRecord),
    data: new Uint8Array(d.buffer, d.byteOffset, d.length),
  };
}

/** Snapshot markers in the log, newest first, without duplicates. */
export function snapshotMarkers(records: readonly StorageRecord[]): SnapshotRecord[] {
  const seen = new Set<string>();
  const out: SnapshotRecord[] = [];
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.t !== "snapshot" || seen.has(`${r.index}/${r.term}`)) continue;
    seen.add(`${r.index}/${r.term}`);
    out.push(r);
  }
  return out;
}

export interface Replayed {
  memory: MemoryStorage;
  /** Highest entry index each segment holds: a segment goes once a snapshot covers it. */
  segmentMaxIndex: Map<number, number>;
}

function fresh(snap: Snapshot, hs: HardState): MemoryStorage {
  const m = new MemoryStorage();
  if (snap.metadata.index > 0) m.applySnapshot(snap);
  m.setHardState(hs);
  return m;
}

/**
 * Rebuilds the stable state on top of `snap`: entries after it in log order (a later entry at
 * index i replaces i and everything after it, as MemoryStorage.append does), the last hard
 * state, and a fresh start at every snapshot that replaced the log.
 */
export function replay(records: readonly WalRecord[], snap: Snapshot): Replayed {
  let hs = emptyHardState();
  let memory = fresh(snap, hs);
  const segmentMaxIndex = new Map<number, number>();
  for (const { segment, value } of records) {
    const r = value as StorageRecord;
    if (r.t === "hardState") hs = { term: r.term, vote: r.vote, commit: r.commit };
    else if (r.t === "snapshot") memory = replaySnapshot(r, snap, memory, hs);
    else {
      segmentMaxIndex.set(segment, Math.max(segmentMaxIndex.get(segment) ?? 0, r.index));
      if (r.index <= snap.metadata.index) continue;
      if (r.index > memory.lastIndex() + 1) {
        throw new ReplayError(
          "log_gap",
          `entry ${r.index} follows ${memory.lastIndex()} with a gap: the log does not ` +
            `continue snapshot ${snap.metadata.index}; rebuild this manager from a healthy peer`,
        );
      }
      memory.append([{ index: r.index, term: r.term, type: r.type, data: r.data }]);
    }
  }
  // A snapshot only ever holds committed state (thesis §5.1), so commit is at least its index.
  memory.setHardState({ ...hs, commit: Math.max(hs.commit, snap.metadata.index) });
  return { memory, segmentMaxIndex };
}

function replaySnapshot(
  r: SnapshotRecord,
  snap: Snapshot,
  memory: MemoryStorage,
  hs: HardState,
): MemoryStorage {
  if (!r.replace) return memory;
  if (r.index > snap.metadata.index) {
    throw new ReplayError(
      "snapshot_unreadable",
      `the log was replaced by snapshot ${r.index} (term ${r.term}) but that file cannot be ` +
        "loaded; rebuild this manager from a healthy peer",
    );
  }
  return fresh(snap, hs);
}
