// The store's bytes: transactions as `storeActions` messages (what a Raft entry carries) and the
// whole store as a `storeSnapshot` message. Snapshots use a canonical form (tables and rows in a
// fixed order, map keys sorted) so two replicas with equal state produce identical bytes.

import { CodecError } from "../codec/cbor.ts";
import { decodeMessage, encodeMessage } from "../codec/messages.ts";
import { limits } from "../limits.ts";
import type { ObjectOf, TableName } from "../model/types.ts";
import { actionProblem, type StoreAction, tableNames } from "./actions.ts";
import { objectProblem } from "./shapes.ts";
import type { Store } from "./store.ts";

/** Encodes a transaction for a Raft entry; `requestId` lets the proposer find its commit. */
export function encodeActions(actions: readonly StoreAction[], requestId?: string): Uint8Array {
  const body =
    requestId === undefined ? { actions: [...actions] } : { actions: [...actions], requestId };
  return encodeMessage("storeActions", body, limits.raftEntryBytesMax);
}

export type DecodedActions =
  | { ok: true; actions: StoreAction[]; requestId?: string }
  | { ok: false; error: CodecError };

export function decodeActions(bytes: Uint8Array): DecodedActions {
  const r = decodeMessage(bytes, "storeActions", limits.raftEntryBytesMax);
  if (!r.ok) return r;
  for (const [i, a] of r.message.actions.entries()) {
    const problem = actionProblem(a);
    if (problem)
      return { ok: false, error: new CodecError("bad_shape", `actions[${i}]: ${problem}`) };
  }
  const { requestId } = r.message;
  const actions = r.message.actions as StoreAction[];
  return requestId === undefined ? { ok: true, actions } : { ok: true, actions, requestId };
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v instanceof Uint8Array || typeof v !== "object" || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = canonical(x);
  }
  return out;
}

export function encodeSnapshot(store: Store, maxBytes = Number.MAX_SAFE_INTEGER): Uint8Array {
  const { index, tables } = store.dump();
  return encodeMessage("storeSnapshot", { index, tables: canonical(tables) }, maxBytes);
}

export type SnapshotData = { index: number; tables: { [K in TableName]: ObjectOf[K][] } };

export function decodeSnapshot(
  bytes: Uint8Array,
  maxBytes = Number.MAX_SAFE_INTEGER,
): { ok: true; snapshot: SnapshotData } | { ok: false; error: CodecError } {
  const r = decodeMessage(bytes, "storeSnapshot", maxBytes);
  if (!r.ok) return r;
  const t = r.message.tables as Record<string, unknown>;
  if (typeof t !== "object" || t === null || Array.isArray(t))
    return { ok: false, error: new CodecError("bad_shape", "snapshot tables must be a map") };
  for (const name of Object.keys(t)) {
    if (!tableNames.includes(name as TableName))
      return {
        ok: false,
        error: new CodecError("bad_shape", `snapshot has unknown table ${name}`),
      };
    const problem = rowsProblem(name as TableName, t[name]);
    if (problem) return { ok: false, error: new CodecError("bad_shape", `snapshot: ${problem}`) };
  }
  const tables = Object.fromEntries(tableNames.map((n) => [n, (t[n] as unknown[]) ?? []]));
  return {
    ok: true,
    snapshot: { index: r.message.index, tables: tables as SnapshotData["tables"] },
  };
}

export function restoreSnapshot(store: Store, bytes: Uint8Array): CodecError | undefined {
  const r = decodeSnapshot(bytes);
  if (!r.ok) return r.error;
  store.restore(r.snapshot.index, r.snapshot.tables);
  return undefined;
}

function rowsProblem(table: TableName, rows: unknown): string | undefined {
  if (!Array.isArray(rows)) return `table ${table} is not a list`;
  const seen = new Set<string>();
  for (const row of rows) {
    const problem = objectProblem(table, row);
    if (problem) return problem;
    const id = (row as { id: string }).id;
    if (seen.has(id)) return `${table} ${id} appears twice`;
    seen.add(id);
  }
  return undefined;
}
