// Applying committed Raft entries and snapshots to the desired-state store. Deterministic: the
// same entries give the same store on every manager, and the same verdict for each write.

import { decodeConfChange } from "../../core/raft/confchange.ts";
import type { ConfChange, Entry, Snapshot } from "../../core/raft/types.ts";
import type { StoreError } from "../../core/store/actions.ts";
import { decodeActions, decodeSnapshot } from "../../core/store/encoding.ts";
import type { Store } from "../../core/store/store.ts";

export type Applied =
  | { kind: "none" }
  | { kind: "write"; requestId?: string; error?: StoreError }
  | { kind: "conf"; change: ConfChange }
  | { kind: "corrupt"; reason: string };

/** Applies one committed entry. An entry that does not decode is reported, never thrown. */
export function applyEntry(store: Store, e: Entry): Applied {
  if (e.type === "conf") {
    try {
      return { kind: "conf", change: decodeConfChange(e.data) };
    } catch (err) {
      return { kind: "corrupt", reason: `conf entry ${e.index}: ${(err as Error).message}` };
    }
  }
  // The empty entry a new leader appends (thesis §6.4) carries no data.
  if (e.data.length === 0 || e.index <= store.index) return { kind: "none" };
  const d = decodeActions(e.data);
  if (!d.ok) return { kind: "corrupt", reason: `entry ${e.index}: ${d.error.message}` };
  const r = store.apply(d.actions, e.index);
  const base = d.requestId === undefined ? {} : { requestId: d.requestId };
  return r.ok ? { kind: "write", ...base } : { kind: "write", ...base, error: r.error };
}

/** Replaces the store with a Raft snapshot's state (an empty snapshot: an empty store). */
export function applySnapshot(store: Store, snap: Snapshot): string | undefined {
  if (snap.data.length === 0) {
    store.restore(snap.metadata.index, {});
    return undefined;
  }
  const d = decodeSnapshot(snap.data);
  if (!d.ok) return `snapshot ${snap.metadata.index}: ${d.error.message}`;
  // The store's index becomes the Raft index the snapshot covers, whatever its last write was.
  store.restore(snap.metadata.index, d.snapshot.tables);
  return undefined;
}
