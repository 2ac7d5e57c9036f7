// Transactions. A read transaction sees the store as it is; a write transaction sees the store
// plus its own uncommitted writes (an overlay) and records them as actions. Nothing reaches the
// store until the transaction's actions are applied, so a throwing callback leaves no trace.

import type { ObjectOf, TableName } from "../model/types.ts";
import { type StoreAction, StoreError } from "./actions.ts";
import type { Query, TableIndexes } from "./indexes.ts";

export interface TableData<T extends { id: string }> {
  rows: Map<string, T>;
  indexes: TableIndexes<T>;
}

export type Tables = { [K in TableName]: TableData<ObjectOf[K]> };

export interface ReadTx {
  get<K extends TableName>(table: K, id: string): ObjectOf[K] | undefined;
  find<K extends TableName>(table: K, query?: Query): ObjectOf[K][];
  count<K extends TableName>(table: K, query?: Query): number;
}

export interface WriteTx extends ReadTx {
  /** Adds a new object. Its `version` is set when the change is applied. */
  create<K extends TableName>(table: K, object: ObjectOf[K]): void;
  /** Replaces an object. `object.version` must be the version that was read. */
  update<K extends TableName>(table: K, object: ObjectOf[K]): void;
  delete<K extends TableName>(table: K, id: string, expectedVersion?: number): void;
}

export class ReadTransaction implements ReadTx {
  constructor(protected readonly tables: Tables) {}

  get<K extends TableName>(table: K, id: string): ObjectOf[K] | undefined {
    return this.tables[table].rows.get(id) as ObjectOf[K] | undefined;
  }

  find<K extends TableName>(table: K, query?: Query): ObjectOf[K][] {
    const t = this.tables[table] as unknown as TableData<ObjectOf[K]>;
    if (!query) return [...t.rows.values()];
    const out: ObjectOf[K][] = [];
    for (const id of t.indexes.lookup(query)) out.push(t.rows.get(id)!);
    return out;
  }

  count<K extends TableName>(table: K, query?: Query): number {
    const t = this.tables[table];
    return query ? t.indexes.lookup(query).size : t.rows.size;
  }
}

type Change<T> = { object: T | null; base: T | undefined };

export class WriteTransaction extends ReadTransaction implements WriteTx {
  private readonly overlay = new Map<TableName, Map<string, Change<unknown>>>();
  private size = 0;

  /** `base` is what the transaction reads through: the store, or a parent transaction. */
  constructor(
    tables: Tables,
    private readonly base: ReadTx = new ReadTransaction(tables),
  ) {
    super(tables);
  }

  /** Objects touched so far (each becomes one action). */
  get touched(): number {
    return this.size;
  }

  private changes<K extends TableName>(table: K): Map<string, Change<ObjectOf[K]>> {
    let m = this.overlay.get(table);
    if (!m) {
      m = new Map();
      this.overlay.set(table, m);
    }
    return m as Map<string, Change<ObjectOf[K]>>;
  }

  override get<K extends TableName>(table: K, id: string): ObjectOf[K] | undefined {
    const c = this.changes(table).get(id);
    if (c) return c.object ?? undefined;
    return this.base.get(table, id);
  }

  override find<K extends TableName>(table: K, query?: Query): ObjectOf[K][] {
    const changes = this.changes(table);
    const base = this.base.find(table, query).filter((o) => !changes.has(o.id));
    const t = this.tables[table] as unknown as TableData<ObjectOf[K]>;
    for (const c of changes.values()) {
      if (c.object === null) continue;
      if (!query || t.indexes.keysOf(query.index, c.object).includes(query.key))
        base.push(c.object);
    }
    return base;
  }

  override count<K extends TableName>(table: K, query?: Query): number {
    return this.changes(table).size === 0
      ? this.base.count(table, query)
      : this.find(table, query).length;
  }

  create<K extends TableName>(table: K, object: ObjectOf[K]): void {
    if (this.get(table, object.id) !== undefined) {
      throw new StoreError("exists", `${table} ${object.id} already exists`);
    }
    this.record(table, object.id, object, undefined);
  }

  update<K extends TableName>(table: K, object: ObjectOf[K]): void {
    const current = this.get(table, object.id);
    if (current === undefined)
      throw new StoreError("not_found", `${table} ${object.id} does not exist`);
    if (current.version !== object.version) {
      throw new StoreError(
        "out_of_sequence",
        `update out of sequence: ${table} ${object.id} is at version ${current.version}, the update was based on ${object.version}`,
      );
    }
    this.record(table, object.id, object, current);
  }

  delete<K extends TableName>(table: K, id: string, expectedVersion?: number): void {
    const current = this.get(table, id);
    if (current === undefined) throw new StoreError("not_found", `${table} ${id} does not exist`);
    const version = expectedVersion ?? current.version;
    if (current.version !== version) {
      throw new StoreError(
        "out_of_sequence",
        `update out of sequence: ${table} ${id} is at version ${current.version}, the delete was based on ${version}`,
      );
    }
    this.record(table, id, null, current);
  }

  /** Remembers the object's state in the store at first touch, so repeated writes to one object
   * collapse into a single action against the version that was actually read. */
  private record<K extends TableName>(
    table: K,
    id: string,
    object: ObjectOf[K] | null,
    current: ObjectOf[K] | undefined,
  ): void {
    const changes = this.changes(table);
    const prior = changes.get(id);
    if (!prior) this.size++;
    changes.set(id, { object, base: prior ? prior.base : current });
  }

  /** Folds a child transaction (run with this one as its base) into this one. */
  merge(child: WriteTransaction): void {
    for (const [table, changes] of child.overlay) {
      for (const [id, c] of changes) {
        this.record(table, id, c.object as never, c.base as never);
      }
    }
  }

  /** The transaction's net effect, one action per object touched, in first-touch order. */
  get actions(): StoreAction[] {
    const out: StoreAction[] = [];
    for (const [table, changes] of this.overlay) {
      for (const [id, c] of changes) {
        const base = c.base as ObjectOf[TableName] | undefined;
        const object = c.object as ObjectOf[TableName] | null;
        if (base === undefined && object !== null) out.push({ op: "create", table, object });
        else if (base !== undefined && object !== null)
          out.push({ op: "update", table, object, expectedVersion: base.version });
        else if (base !== undefined)
          out.push({ op: "delete", table, id, expectedVersion: base.version });
      }
    }
    return out;
  }
}
