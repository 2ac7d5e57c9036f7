// ReadIndex (thesis §6.4): a leader serves a linearizable read at its commit index once a
// heartbeat round confirms a majority still follows it, so no newer leader can have committed
// anything it does not know. Requests are keyed by their context bytes and released in order.

import type { NodeId } from "./types.ts";

export interface ReadIndexStatus {
  /** The commit index when the request arrived. */
  index: number;
  /** Who asked: the leader itself or a follower to answer. */
  from: NodeId;
  context: Uint8Array;
  acks: Map<NodeId, boolean>;
}

export function contextKey(ctx: Uint8Array): string {
  let s = "";
  for (const b of ctx) s += b.toString(16).padStart(2, "0");
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private readonly queue: string[] = [];

  constructor(readonly maxPending: number) {}

  /** Queues a request; false when full or when the same context is already pending. */
  add(index: number, from: NodeId, context: Uint8Array): boolean {
    const key = contextKey(context);
    if (this.pending.has(key) || this.queue.length >= this.maxPending) return false;
    this.pending.set(key, { index, from, context, acks: new Map() });
    this.queue.push(key);
    return true;
  }

  recvAck(id: NodeId, context: Uint8Array): Map<NodeId, boolean> | undefined {
    const rs = this.pending.get(contextKey(context));
    if (!rs) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /**
   * Releases every request up to and including `context`: a quorum acknowledging a later
   * heartbeat also confirms leadership for the earlier requests.
   */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const keys = this.queue.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of keys) {
      out.push(this.pending.get(k)!);
      this.pending.delete(k);
    }
    return out;
  }

  size(): number {
    return this.queue.length;
  }
}
