// The simulated network: every message gets a delivery time (random delay, so messages
// reorder), may be lost or duplicated, and is dropped when a partition separates its ends.
// Partitions are symmetric (groups) or one-way (a blocked directed link).

import type { Message, NodeId } from "../../core/raft/index.ts";
import type { Rng } from "../../core/rand.ts";

export interface NetworkFaults {
  lossRate: number;
  dupRate: number;
  /** Delivery delay is uniform in [1, delayMax] micro-ticks. */
  delayMax: number;
}

interface InFlight {
  at: number;
  seq: number;
  msg: Message;
}

export class Network {
  private queue: InFlight[] = [];
  private seq = 0;
  private groups = new Map<NodeId, number>();
  private blocked = new Set<string>();
  faults: NetworkFaults;
  sent = 0;
  dropped = 0;

  constructor(
    private readonly rng: Rng,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  canReach(from: NodeId, to: NodeId): boolean {
    const a = this.groups.get(from) ?? 0;
    const b = this.groups.get(to) ?? 0;
    return a === b && !this.blocked.has(`${from}>${to}`);
  }

  send(m: Message, now: number): void {
    this.sent++;
    if (!this.canReach(m.from, m.to) || this.rng.float() < this.faults.lossRate) {
      this.dropped++;
      return;
    }
    const copies = this.rng.float() < this.faults.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = now + 1 + this.rng.int(this.faults.delayMax);
      this.queue.push({ at, seq: this.seq++, msg: m });
    }
  }

  /** Messages due by `now`, in delivery order; a partition can still cut them in flight. */
  due(now: number): Message[] {
    if (this.queue.length === 0) return [];
    const ready = this.queue.filter((f) => f.at <= now);
    if (ready.length === 0) return [];
    this.queue = this.queue.filter((f) => f.at > now);
    ready.sort((a, b) => a.at - b.at || a.seq - b.seq);
    return ready.filter((f) => this.canReach(f.msg.from, f.msg.to)).map((f) => f.msg);
  }

  /** Splits nodes into groups (symmetric partition). */
  partition(groups: NodeId[][]): void {
    this.groups.clear();
    groups.forEach((g, i) => {
      for (const id of g) this.groups.set(id, i);
    });
  }

  /** Blocks the directed link from -> to (one-way partition). */
  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.groups.clear();
    this.blocked.clear();
  }

  /** Drops everything in flight to a node that crashed (its sockets are gone). */
  dropTo(id: NodeId): void {
    this.queue = this.queue.filter((f) => f.msg.to !== id);
  }

  describePartition(): string {
    const parts: string[] = [];
    if (this.groups.size > 0) parts.push(`groups=${JSON.stringify([...this.groups])}`);
    if (this.blocked.size > 0) parts.push(`blocked=${[...this.blocked].join(",")}`);
    return parts.join(" ") || "none";
  }
}
