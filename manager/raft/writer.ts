// The Raft-backed StoreWriter: a transaction runs against the local replica, its actions go
// through Raft, and the promise settles when the entry is applied here. A conflict found at
// apply time (another write got there first) rejects with "update out of sequence"; callers
// re-read and retry, exactly as with the API's optimistic concurrency.
//
// A proposal lost in a leader change, or refused because no leader is known for a moment, is
// proposed again — the very same entry (same request id, same expected versions) — as soon as
// a leader is known, within the node's proposal timeout. Proposing it again is safe: should
// the first copy commit after all (see proposals.ts), the store refuses the second (its
// versions are stale, its creates exist).

import type { StoreAction } from "../../core/store/actions.ts";
import type { Store } from "../../core/store/store.ts";
import type { WriteTx } from "../../core/store/tx.ts";
import type { StoreWriter } from "../../core/store/writer.ts";
import type { RaftNode } from "./node.ts";
import { isDropped } from "./proposals.ts";

export interface RaftWriterOptions {
  /** Bound on proposing again after drops (default 10 s). */
  retryWindowMs?: number;
}

export class RaftWriter implements StoreWriter {
  readonly store: Store;
  /** Proposals proposed again after a drop (for tests and stats). */
  resubmits = 0;
  readonly #retryWindowMs: number;

  constructor(
    private readonly node: RaftNode,
    opts: RaftWriterOptions = {},
  ) {
    this.store = node.store;
    this.#retryWindowMs = opts.retryWindowMs ?? 10_000;
  }

  async update<R>(fn: (tx: WriteTx) => R): Promise<R> {
    const tx = this.store.beginWrite();
    const result = fn(tx);
    const actions = tx.actions;
    if (actions.length > 0) await this.#commit(actions);
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
      if (group.actions.length > 0) await this.#commit(group.actions);
      i = group.next;
    }
    if (errors.length > 0)
      throw new AggregateError(errors, `${errors.length} batched writes failed`);
  }

  async #commit(actions: readonly StoreAction[]): Promise<void> {
    const p = this.node.proposal(actions);
    const deadline = Date.now() + this.#retryWindowMs;
    for (let backoffMs = 10; ; backoffMs = Math.min(backoffMs * 2, 200)) {
      try {
        await this.node.submit(p);
        return;
      } catch (err) {
        const left = deadline - Date.now();
        if (!isDropped(err) || left <= 0) throw err;
        // A leader that just won may still be settling: a short pause, then wait for one.
        await new Promise((r) => setTimeout(r, Math.min(backoffMs, left)));
        if (!(await this.node.whenLeader(deadline - Date.now()))) throw err;
        this.resubmits++;
      }
    }
  }
}
