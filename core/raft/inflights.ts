// Bounded window of append messages in flight to one follower (etcd's Inflights). The leader
// stops sending when the window is full, which bounds memory and network use per peer
// (limits.raftInflightMessagesMax); acknowledgements free the window from the front.

import { assert } from "../errors.ts";

export class Inflights {
  /** Last entry index of each in-flight append, ascending. */
  private readonly lastIndexes: number[] = [];
  constructor(readonly capacity: number) {
    assert(capacity > 0, "inflights capacity > 0");
  }

  add(lastIndex: number): void {
    assert(!this.full(), "inflights: add to a full window");
    const prev = this.lastIndexes.at(-1);
    assert(prev === undefined || lastIndex >= prev, "inflights: indexes must not decrease");
    this.lastIndexes.push(lastIndex);
  }

  /** Frees every message whose last index is <= `to`. */
  freeLE(to: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= to) n++;
    if (n > 0) this.lastIndexes.splice(0, n);
  }

  freeFirst(): void {
    this.lastIndexes.shift();
  }

  full(): boolean {
    return this.lastIndexes.length >= this.capacity;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}
