// Moves replicated and replicated-job tasks off nodes that cannot run them any more:
//   - a drained or removed node: at once (an operator asked for it);
//   - a down or disconnected node: once the service's disconnect grace has passed since this
//     loop first saw the node lost (label fleet.disconnect-grace, see options.ts). An edge board
//     on a flaky link misses heartbeats all the time; moving its tasks at the first miss would
//     churn the fleet, so it keeps them for the grace and gets them back if it returns in time.
// Moving = replacing the task in its slot (the old one goes to SHUTDOWN: when the node comes
// back its agent stops it). Global tasks are never moved (global.ts decides about them).
// Lost-since times live in memory; a new leader takes a lost node's loss time from the
// dispatcher's last heartbeat (status.lastSeen) plus the detection time, or starts its grace
// afresh when there is none.

import { limits } from "../limits.ts";
import type { Cluster, Node, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { WriteTx } from "../store/tx.ts";
import type { StoreEvent } from "../store/watch.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import { serviceOptions } from "./options.ts";
import { isGlobalMode, isLive, isLost, modeOf, moveTask } from "./tasks.ts";

/**
 * When a node that is already lost as this loop starts (a new leader) was marked lost: the
 * dispatcher's last heartbeat from it plus the time a miss takes to detect, never later than
 * now. Without a last-seen time, now: the grace starts afresh (later, never earlier).
 */
export function lostAt(n: Node, nowMs: number, detectMs: number): number {
  const seen = n.status.lastSeen;
  return seen === undefined || seen <= 0 ? nowMs : Math.min(nowMs, seen + detectMs);
}

function detectionMs(c: Cluster | undefined): number {
  const period = c?.spec.heartbeatPeriodMs ?? limits.heartbeatPeriodMsDefault;
  return period * limits.heartbeatMissedMax;
}

export class NodeFailureLoop extends BaseLoop {
  /** Node id -> when this loop first saw it lost. */
  readonly #lostSince = new Map<string, number>();
  /** Nodes to empty at once (drained or removed). */
  readonly #evacuate = new Set<string>();
  #next: number | undefined;

  constructor(store: Store, options: LoopOptions) {
    super("node-failure", store, options, { tables: ["nodes", "services"] });
  }

  override nextDeadlineMs(): number | undefined {
    return this.#next;
  }

  protected resync(nowMs: number): void {
    this.#lostSince.clear();
    const { nodes, detectMs } = this.view((tx) => ({
      nodes: tx.find("nodes"),
      detectMs: detectionMs(tx.find("clusters")[0]),
    }));
    for (const n of nodes) this.#note(n, lostAt(n, nowMs, detectMs));
  }

  protected observe(e: StoreEvent, nowMs: number): void {
    if (e.kind === "commit") return;
    if (e.table === "services") {
      this.#next = nowMs; // a grace may have changed: re-check the lost nodes
      return;
    }
    if (e.kind === "delete") {
      this.#lostSince.delete(e.object.id);
      this.#evacuate.add(e.object.id);
    } else this.#note(e.object as Node, nowMs);
  }

  /** `sinceMs`: when the node was lost, if it is (the time we see it, for a new loss). */
  #note(n: Node, sinceMs: number): void {
    if (!isLost(n)) this.#lostSince.delete(n.id);
    else if (!this.#lostSince.has(n.id)) this.#lostSince.set(n.id, sinceMs);
    if (n.spec.availability === "drain") this.#evacuate.add(n.id);
  }

  protected reconcile(nowMs: number): void {
    const now = [...this.#evacuate].sort();
    this.#evacuate.clear();
    for (const id of now) this.#move(id, nowMs, () => true, "node drained or removed");
    this.#next = undefined;
    for (const [id, since] of [...this.#lostSince].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const due = (_t: Task, grace: number) => {
        if (since + grace <= nowMs) return true;
        if (this.#next === undefined || since + grace < this.#next) this.#next = since + grace;
        return false;
      };
      this.#move(id, nowMs, due, "node down");
    }
  }

  /** Replaces the live tasks on a node for which `due(task, grace)` says so. */
  #move(nodeId: string, nowMs: number, due: (t: Task, grace: number) => boolean, why: string) {
    const tasks = this.view((tx) => tx.find("tasks", by.nodeId(nodeId)).filter(isLive));
    tasks.sort((a, b) => (a.id < b.id ? -1 : 1));
    this.writeEach(tasks, (tx, t) => this.#moveOne(tx, t, nowMs, due, why));
  }

  #moveOne(
    tx: WriteTx,
    t: Task,
    nowMs: number,
    due: (t: Task, grace: number) => boolean,
    why: string,
  ): void {
    const cur = tx.get("tasks", t.id);
    const service = tx.get("services", t.serviceId);
    if (cur === undefined || !isLive(cur) || service === undefined) return;
    if (isGlobalMode(modeOf(service))) return;
    if (!due(cur, serviceOptions(service).disconnectGraceMs)) return;
    const message = `moved from node ${t.nodeId} (${why})`;
    moveTask(tx, service, cur, { id: () => this.newId(tx), nowMs, message });
  }
}
