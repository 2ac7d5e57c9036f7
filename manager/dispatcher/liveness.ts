// Node liveness, in memory on the leader only (as swarm keeps heartbeats): a heartbeat, hello
// or status message moves a node's deadline; nothing here touches the store. The dispatcher
// asks `expired(now)` on a timer and writes only the verdicts (ready -> down, down -> ready).
//
// A node is DOWN once `missedMax` whole periods pass without a word from it. After a leader
// change every known node starts with `graceMs` instead: the new leader cannot know when a node
// was last heard, and marking a healthy fleet down on every election would be a storm.

import { assert } from "../../core/errors.ts";

interface Entry {
  deadline: number;
  down: boolean;
  lastSeen: number;
}

export interface LivenessTiming {
  periodMs: number;
  missedMax: number;
}

export class Liveness {
  readonly #nodes = new Map<string, Entry>();
  #timing: LivenessTiming;

  constructor(timing: LivenessTiming) {
    this.#timing = Liveness.#checked(timing);
  }

  static #checked(t: LivenessTiming): LivenessTiming {
    assert(t.periodMs > 0 && Number.isFinite(t.periodMs), `heartbeat period ${t.periodMs}`);
    assert(Number.isSafeInteger(t.missedMax) && t.missedMax >= 1, `missedMax ${t.missedMax}`);
    return { ...t };
  }

  get timing(): LivenessTiming {
    return this.#timing;
  }

  /** Takes effect at each node's next heartbeat. */
  set timing(t: LivenessTiming) {
    this.#timing = Liveness.#checked(t);
  }

  get size(): number {
    return this.#nodes.size;
  }

  has(nodeId: string): boolean {
    return this.#nodes.has(nodeId);
  }

  isDown(nodeId: string): boolean | undefined {
    return this.#nodes.get(nodeId)?.down;
  }

  lastSeen(nodeId: string): number | undefined {
    return this.#nodes.get(nodeId)?.lastSeen;
  }

  /** A node the store knows about, before it has said anything to this leader. */
  seed(nodeId: string, down: boolean, deadline: number, lastSeen: number): void {
    this.#nodes.set(nodeId, { deadline, down, lastSeen });
  }

  /** The node spoke at `now`. Returns true when it was down (it has recovered). */
  beat(nodeId: string, now: number): boolean {
    const deadline = now + this.#timing.periodMs * this.#timing.missedMax;
    const e = this.#nodes.get(nodeId);
    if (!e) {
      this.#nodes.set(nodeId, { deadline, down: false, lastSeen: now });
      return false;
    }
    const wasDown = e.down;
    e.deadline = deadline;
    e.down = false;
    e.lastSeen = now;
    return wasDown;
  }

  /** Nodes whose deadline passed by `now` and that were not down yet; they are now. */
  expired(now: number): string[] {
    const out: string[] = [];
    for (const [id, e] of this.#nodes) {
      if (e.down || now < e.deadline) continue;
      e.down = true;
      out.push(id);
    }
    return out;
  }

  forget(nodeId: string): void {
    this.#nodes.delete(nodeId);
  }

  clear(): void {
    this.#nodes.clear();
  }
}
