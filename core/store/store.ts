// The in-memory desired-state store that Raft replicates (SwarmKit's memory store, simplified).
//
//   prepare(fn) runs a write transaction and returns its actions without touching the store;
//   apply(actions, index) applies them atomically at a Raft index on every replica;
//   update(fn) is prepare + apply at the next local index, for a store that is not replicated.
//
// Every written object's `version` becomes the index that wrote it. Objects handed out are
// frozen: readers cannot corrupt the store, writers build new objects.

import { assert } from "../errors.ts";
import { limits } from "../limits.ts";
import type { AnyObject, ObjectOf, TableName } from "../model/types.ts";
import {
  actionProblem,
  outOfSequence,
  type StoreAction,
  StoreError,
  tableNames,
} from "./actions.ts";
import { by, indexDefs, TableIndexes } from "./indexes.ts";
import { ReadTransaction, type ReadTx, type Tables, WriteTransaction, type WriteTx } from "./tx.ts";
import { type StoreEvent, Watcher, type WatchFilter } from "./watch.ts";

export type ApplyResult = { ok: true; events: number } | { ok: false; error: StoreError };

export class Store {
  private tables: Tables = emptyTables();
  private readonly watchers = new Set<Watcher>();
  /** Index of the last applied change (a Raft index once replicated). */
  private appliedIndex = 0;

  get index(): number {
    return this.appliedIndex;
  }

  view<R>(fn: (tx: ReadTx) => R): R {
    return fn(new ReadTransaction(this.tables));
  }

  /** A write transaction over the store, or over `base` (a parent transaction) when given.
   * Its `actions` can be applied later; writers that commit through Raft use this. */
  beginWrite(base?: ReadTx): WriteTransaction {
    return new WriteTransaction(this.tables, base);
  }

  /**
   * Runs `fns` from `start` in one chained transaction (each sees the writes of those before
   * it) until the group touches limits.storeBatchActionsMax objects: one bounded Raft entry.
   * A callback that throws drops its own writes and goes to `onError` (which may rethrow).
   * Returns the group's actions and the index the next group starts at.
   */
  prepareGroup(
    fns: readonly ((tx: WriteTx) => void)[],
    start: number,
    onError: (err: unknown) => void,
  ): { actions: StoreAction[]; next: number } {
    const group = this.beginWrite();
    let i = start;
    for (; i < fns.length && group.touched < limits.storeBatchActionsMax; i++) {
      const child = this.beginWrite(group);
      try {
        fns[i]!(child);
        group.merge(child);
      } catch (err) {
        onError(err);
      }
    }
    return { actions: group.actions, next: i };
  }

  /** Runs a write transaction and returns its actions; the store is unchanged. */
  prepare(fn: (tx: WriteTx) => void): StoreAction[] {
    const tx = new WriteTransaction(this.tables);
    fn(tx);
    return tx.actions;
  }

  /** Runs a write transaction and applies it at the next index. Throws what the callback or the
   * apply throws; either way the store is left as it was. */
  update<R>(fn: (tx: WriteTx) => R): R {
    const tx = new WriteTransaction(this.tables);
    const result = fn(tx);
    const actions = tx.actions;
    if (actions.length === 0) return result;
    const r = this.apply(actions, this.appliedIndex + 1);
    if (!r.ok) throw r.error;
    return result;
  }

  /**
   * Many small transactions applied in groups: each callback runs against the writes of the
   * ones before it; a callback that throws drops its own writes only. The group is applied
   * whenever it touches limits.storeBatchActionsMax objects (so a Raft entry stays bounded, at
   * most that plus one callback's writes). Returns the number of applies.
   */
  batch(fn: (batch: { update(fn: (tx: WriteTx) => void): void }) => void): number {
    let group = new WriteTransaction(this.tables);
    let applies = 0;
    const flush = () => {
      const actions = group.actions;
      group = new WriteTransaction(this.tables);
      if (actions.length === 0) return;
      const r = this.apply(actions, this.appliedIndex + 1);
      if (!r.ok) throw r.error;
      applies++;
    };
    try {
      fn({
        update: (inner) => {
          const child = new WriteTransaction(this.tables, group);
          inner(child);
          group.merge(child);
          if (group.touched >= limits.storeBatchActionsMax) flush();
        },
      });
    } finally {
      flush();
    }
    return applies;
  }

  /**
   * Applies actions atomically at `index` (> the current index). Deterministic: every replica
   * applying the same actions at the same index reaches the same state and the same verdict.
   * A conflicting action (stale version, duplicate create, name clash) rejects the whole list.
   */
  apply(actions: readonly StoreAction[], index: number): ApplyResult {
    assert(index > this.appliedIndex, `apply index ${index} must exceed ${this.appliedIndex}`);
    const error = this.check(actions);
    if (error) {
      this.appliedIndex = index;
      return { ok: false, error };
    }
    const events: StoreEvent[] = [];
    for (const a of actions) events.push(this.applyOne(a, index));
    this.appliedIndex = index;
    events.push({ kind: "commit", version: index });
    for (const e of events) for (const w of this.watchers) w.push(e);
    return { ok: true, events: events.length };
  }

  /** Validates a whole action list against the current state before anything changes. */
  private check(actions: readonly StoreAction[]): StoreError | undefined {
    const touched = new Set<string>();
    for (const a of actions) {
      // Shapes were checked where the actions arrived as bytes (decodeActions).
      const problem = actionProblem(a, false);
      if (problem) return new StoreError("invalid", `invalid action: ${problem}`);
      const id = a.op === "delete" ? a.id : a.object.id;
      const key = `${a.table}/${id}`;
      if (touched.has(key))
        return new StoreError("invalid", `invalid action: ${key} written twice`);
      touched.add(key);
      const current = this.tables[a.table].rows.get(id);
      if (a.op === "create" && current) return new StoreError("exists", `${key} already exists`);
      if (a.op !== "create" && !current)
        return new StoreError("not_found", `${key} does not exist`);
      if (a.op !== "create" && current!.version !== a.expectedVersion)
        return outOfSequence(a.table, id, a.expectedVersion, current!.version);
    }
    return this.checkNames(actions);
  }

  /** Service names are unique (case-insensitive), as in swarm. */
  private checkNames(actions: readonly StoreAction[]): StoreError | undefined {
    const claimed = new Map<string, string>();
    const leaving = new Set<string>();
    for (const a of actions)
      if (a.table === "services" && a.op !== "create")
        leaving.add(a.op === "delete" ? a.id : a.object.id);
    for (const a of actions) {
      if (a.table !== "services" || a.op === "delete") continue;
      const svc = a.object as ObjectOf["services"];
      const name = svc.spec?.name?.toLowerCase?.() ?? "";
      const other = claimed.get(name);
      if (other !== undefined && other !== svc.id) return nameConflict(name);
      claimed.set(name, svc.id);
      for (const id of this.tables.services.indexes.lookup(by.name(name))) {
        if (id !== svc.id && !leaving.has(id)) return nameConflict(name);
      }
    }
    return undefined;
  }

  private applyOne(a: StoreAction, index: number): StoreEvent {
    const t = this.tables[a.table] as unknown as Tables["nodes"];
    if (a.op === "delete") {
      const old = t.rows.get(a.id)!;
      t.indexes.remove(old);
      t.rows.delete(a.id);
      return { kind: "delete", table: a.table, object: old, version: index };
    }
    const object = deepFreeze({ ...a.object, version: index }) as ObjectOf["nodes"];
    const old = t.rows.get(object.id);
    if (old) t.indexes.replace(old, object);
    else t.indexes.add(object);
    t.rows.set(object.id, object);
    return old
      ? { kind: "update", table: a.table, object, old, version: index }
      : { kind: "create", table: a.table, object, version: index };
  }

  watch(filter?: WatchFilter, maxQueued?: number): Watcher {
    const w = new Watcher(filter, (x) => this.watchers.delete(x), maxQueued);
    this.watchers.add(w);
    return w;
  }

  /** A consistent snapshot plus every later change: no gap, no duplicate. */
  viewAndWatch<R>(fn: (tx: ReadTx) => R, filter?: WatchFilter): { result: R; watcher: Watcher } {
    // Both happen in one synchronous step, so no apply can fall between them.
    const result = this.view(fn);
    return { result, watcher: this.watch(filter) };
  }

  /** Every object of every table, sorted by id (the input of a snapshot). */
  dump(): { index: number; tables: { [K in TableName]: ObjectOf[K][] } } {
    const tables = {} as { [K in TableName]: ObjectOf[K][] };
    for (const name of tableNames) {
      const rows = [...this.tables[name].rows.values()].sort((a, b) =>
        a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
      );
      (tables as Record<TableName, AnyObject[]>)[name] = rows;
    }
    return { index: this.appliedIndex, tables };
  }

  /** Replaces the whole state (a snapshot from Raft). Watchers see nothing: they must resync. */
  restore(index: number, tables: { [K in TableName]?: readonly ObjectOf[K][] }): void {
    const next = emptyTables();
    for (const name of tableNames) {
      const t = next[name] as unknown as Tables["nodes"];
      for (const o of (tables[name] ?? []) as ObjectOf["nodes"][]) {
        const frozen = deepFreeze({ ...o });
        t.rows.set(frozen.id, frozen);
        t.indexes.add(frozen);
      }
    }
    this.tables = next;
    this.appliedIndex = index;
    for (const w of [...this.watchers]) w.close("store restored from a snapshot; resync");
  }
}

function nameConflict(name: string): StoreError {
  return new StoreError("name_conflict", `a service named "${name}" already exists`);
}

function emptyTables(): Tables {
  const make = <K extends TableName>(k: K) => ({
    rows: new Map<string, ObjectOf[K]>(),
    indexes: new TableIndexes<ObjectOf[K]>(indexDefs[k] as never),
  });
  return {
    nodes: make("nodes"),
    services: make("services"),
    tasks: make("tasks"),
    clusters: make("clusters"),
  };
}

function deepFreeze<T>(o: T): T {
  if (typeof o !== "object" || o === null || Object.isFrozen(o) || ArrayBuffer.isView(o)) return o;
  for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
}
