// How components write the desired state. On a manager the writer proposes the transaction's
// actions through Raft and resolves once they are committed and applied to the local replica;
// in tests and single-process tools `LocalWriter` applies them directly. Either way, readers use
// `writer.store` (the local replica) and writers never touch the store directly.

import type { Store } from "./store.ts";
import type { WriteTx } from "./tx.ts";

export interface StoreWriter {
  /** The local replica, for reads and watches. */
  readonly store: Store;
  /**
   * Runs a write transaction against the current state and resolves with its result once the
   * change is committed and applied here. Rejects with a StoreError on conflict ("update out of
   * sequence": re-read and retry) or a retryable FleetError when no leader can take it.
   */
  update<R>(fn: (tx: WriteTx) => R): Promise<R>;
  /** Many small transactions, committed in bounded groups (see Store.batch). */
  batch(fn: (batch: { update(fn: (tx: WriteTx) => void): void }) => void): Promise<void>;
}

export class LocalWriter implements StoreWriter {
  constructor(readonly store: Store) {}

  async update<R>(fn: (tx: WriteTx) => R): Promise<R> {
    return this.store.update(fn);
  }

  async batch(fn: (batch: { update(fn: (tx: WriteTx) => void): void }) => void): Promise<void> {
    this.store.batch(fn);
  }
}
