// The Raft-backed StoreWriter: a transaction runs against the local replica, its actions go
// through Raft, and the promise settles when the entry is applied here. A conflict found at
// apply time (another write got there first) rejects with "update out of sequence"; callers
// re-read and retry, exactly as with the API's optimistic concurrency.

import type { Store } from "../../core/store/store.ts";
import type { WriteTx } from "../../core/store/tx.ts";
import type { StoreWriter } from "../../core/store/writer.ts";
import type { RaftNode } from "./node.ts";

export class RaftWriter implements StoreWriter {
  readonly store: Store;

  constructor(private readonly node: RaftNode) {
    this.store = node.store;
  }

  async update<R>(fn: (tx: WriteTx) => R): Promise<R> {
    const tx = this.store.beginWrite();
    const result = fn(tx);
    const actions = tx.actions;
    if (actions.length > 0) await this.node.propose(actions);
    return result;
  }

  /**
   * Runs the callbacks in order, each seeing the writes of those before it, and commits them in
   * groups of about limits.storeBatchActionsMax objects, one group at a time (a group's base
   * versions are only known once the group before it has applied). Callbacks run after
   * `fn` returns. A throwing callback drops its own writes; the others still commit, then the
   * promise rejects with every callback error.
   */
  async batch(fn: (batch: { update(fn: (tx: WriteTx) => void): void }) => void): Promise<void> {
    const inners: ((tx: WriteTx) => void)[] = [];
    fn({ update: (inner) => inners.push(inner) });
    const errors: unknown[] = [];
    for (let i = 0; i < inners.length; ) {
      const group = this.store.prepareGroup(inners, i, (err) => errors.push(err));
      if (group.actions.length > 0) await this.node.propose(group.actions);
      i = group.next;
    }
    if (errors.length > 0)
      throw new AggregateError(errors, `${errors.length} batched writes failed`);
  }
}
