// Watches: every applied transaction becomes events delivered, in order, to each matching
// watcher's queue. A watcher that falls more than limits.watchQueueEventsMax events behind is
// closed (and says so) instead of growing without bound.

import { limits } from "../limits.ts";
import type { AnyObject, TableName } from "../model/types.ts";

export type StoreEvent =
  | { kind: "create"; table: TableName; object: AnyObject; version: number }
  | { kind: "update"; table: TableName; object: AnyObject; old: AnyObject; version: number }
  | { kind: "delete"; table: TableName; object: AnyObject; version: number }
  /** Marks the end of one applied transaction (one Raft entry). */
  | { kind: "commit"; version: number };

export interface WatchFilter {
  tables?: readonly TableName[];
  kinds?: readonly StoreEvent["kind"][];
  where?: (e: StoreEvent) => boolean;
}

export function matches(f: WatchFilter | undefined, e: StoreEvent): boolean {
  if (!f) return true;
  if (f.kinds && !f.kinds.includes(e.kind)) return false;
  if (f.tables && e.kind !== "commit" && !f.tables.includes(e.table)) return false;
  if (f.tables && e.kind === "commit" && f.kinds === undefined) return false;
  return f.where ? f.where(e) : true;
}

export class Watcher {
  private queue: StoreEvent[] = [];
  private head = 0;
  private waiter: (() => void) | undefined;
  closedReason: string | undefined;

  constructor(
    readonly filter: WatchFilter | undefined,
    private readonly onClose: (w: Watcher) => void,
    private readonly maxQueued: number = limits.watchQueueEventsMax,
  ) {}

  /** Called by the store. */
  push(e: StoreEvent): void {
    if (this.closedReason !== undefined || !matches(this.filter, e)) return;
    if (this.queue.length - this.head >= this.maxQueued) {
      this.close(`watcher fell behind by more than ${this.maxQueued} events`);
      return;
    }
    this.queue.push(e);
    this.wake();
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Takes every queued event (synchronous; deterministic loops use this). */
  drain(): StoreEvent[] {
    const out = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    return out;
  }

  /** Takes one event, or undefined when none is queued. */
  shift(): StoreEvent | undefined {
    if (this.head >= this.queue.length) return undefined;
    const e = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  /** Resolves when an event is queued or the watcher closes. */
  wait(): Promise<void> {
    if (this.pending > 0 || this.closedReason !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(reason = "closed"): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.onClose(this);
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StoreEvent> {
    for (;;) {
      const e = this.shift();
      if (e) {
        yield e;
        continue;
      }
      if (this.closedReason !== undefined) return;
      await this.wait();
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
