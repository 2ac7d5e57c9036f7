// A simulated disk under one node's Raft storage. Writes reach the live view at once; they
// become durable only when synced. A crash keeps the durable image plus a random prefix of the
// unsynced writes, the last of which may be torn (a prefix of its entries), as a WAL whose tail
// was cut mid-write and then truncated to the last whole record on recovery.

import { type Entry, type HardState, MemoryStorage, type Snapshot } from "../../core/raft/index.ts";
import type { Rng } from "../../core/rand.ts";

export type DiskWrite =
  | { kind: "hardState"; hs: HardState }
  | { kind: "entries"; ents: Entry[] }
  | { kind: "snapshot"; snap: Snapshot };

function applyWrite(s: MemoryStorage, w: DiskWrite): void {
  if (w.kind === "hardState") s.setHardState(w.hs);
  else if (w.kind === "entries") s.append(w.ents);
  else if (w.snap.metadata.index > s.snapshot().metadata.index) s.applySnapshot(w.snap);
}

export class SimDisk {
  /** What survives a crash. */
  private durable = new MemoryStorage();
  private unsynced: DiskWrite[] = [];
  tornTails = 0;
  /** Crashes that lost at least one unsynced or half-written record. */
  lostWrites = 0;

  /** Writes one Ready's records; with sync they are durable when this returns. */
  write(live: MemoryStorage, writes: DiskWrite[], sync: boolean): void {
    for (const w of writes) applyWrite(live, w);
    this.unsynced.push(...writes);
    if (sync) this.sync();
  }

  sync(): void {
    for (const w of this.unsynced) applyWrite(this.durable, w);
    this.unsynced = [];
  }

  /**
   * Records an application snapshot and compacts up to compactIndex, durably (a snapshot file is
   * written atomically: tmp + fsync + rename).
   */
  snapshotAndCompact(live: MemoryStorage, snap: Snapshot, compactIndex: number): void {
    for (const s of [live, this.durable]) {
      const m = snap.metadata;
      if (m.index <= s.snapshot().metadata.index || m.index > s.lastIndex()) continue;
      s.createSnapshot(m.index, m.confState, snap.data);
      if (compactIndex > s.firstIndex() - 1 && compactIndex <= s.lastIndex())
        s.compact(compactIndex);
    }
  }

  /** Power loss: a random prefix of the unsynced writes survives, the last possibly torn. */
  crash(rng: Rng, partial: DiskWrite[] = []): void {
    const pending = [...this.unsynced, ...partial];
    const keep = rng.int(pending.length + 1);
    if (keep < pending.length) this.lostWrites++;
    for (let i = 0; i < keep; i++) {
      let w = pending[i]!;
      if (i === keep - 1 && w.kind === "entries" && w.ents.length > 1) {
        w = { kind: "entries", ents: w.ents.slice(0, 1 + rng.int(w.ents.length - 1)) };
        this.tornTails++;
      }
      applyWrite(this.durable, w);
    }
    this.unsynced = [];
  }

  /** The storage a restarted node reads: a copy of the durable image. */
  recover(): MemoryStorage {
    const s = new MemoryStorage();
    const snap = this.durable.snapshot();
    if (snap.metadata.index > 0) s.applySnapshot(snap);
    const first = this.durable.firstIndex();
    const last = this.durable.lastIndex();
    if (last >= first) s.append(this.durable.entries(first, last + 1, Number.MAX_SAFE_INTEGER));
    s.setHardState(this.durable.initialState().hardState);
    return s;
  }
}
