// The task reaper: deletes what no one needs any more.
//   - tasks marked REMOVE (scale down, removed node, removed service) once they have stopped,
//     never started, or their node is gone;
//   - history: per slot, only the newest cluster.spec.taskHistoryLimit dead tasks are kept;
//   - tasks of a service that no longer exists are first marked REMOVE.
// A dead task still running on a lost node is kept: its agent has yet to stop it.

import { limits } from "../limits.ts";
import { isTerminal, TaskState } from "../model/task-state.ts";
import type { Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { ReadTx } from "../store/tx.ts";
import type { StoreEvent } from "../store/watch.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import { holdsSlot, setDesired, slotKey, slotTasks } from "./tasks.ts";

/** A dead task that can go: it stopped, never got to run, or its node is gone. */
export function isReapable(t: Task, nodeExists: boolean): boolean {
  if (holdsSlot(t)) return false;
  return isTerminal(t.status.state) || t.status.state < TaskState.ASSIGNED || !nodeExists;
}

/** Which tasks of one slot to delete, given the history limit (pure). */
export function toReap(
  slot: readonly Task[],
  limit: number,
  nodeExists: (id: string) => boolean,
): Task[] {
  const reapable = slot.filter((t) => isReapable(t, t.nodeId === "" || nodeExists(t.nodeId)));
  const removed = reapable.filter((t) => t.desiredState >= TaskState.REMOVE);
  const history = reapable.filter((t) => t.desiredState < TaskState.REMOVE);
  history.sort((a, b) => b.createdAt - a.createdAt || b.version - a.version);
  return [...removed, ...history.slice(Math.max(0, limit))];
}

export class TaskReaper extends BaseLoop {
  /** `serviceId \0 slot` of one task per dirty slot. */
  readonly #slots = new Map<string, Task>();
  readonly #orphans = new Set<string>();

  constructor(store: Store, options: LoopOptions) {
    super("reaper", store, options, { tables: ["tasks", "services", "clusters", "nodes"] });
  }

  protected resync(): void {
    this.view((tx) => {
      for (const t of tx.find("tasks")) {
        this.#mark(t);
        if (tx.get("services", t.serviceId) === undefined) this.#orphans.add(t.serviceId);
      }
    });
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "commit" || (e.kind === "delete" && e.table === "tasks")) return;
    if (e.table === "clusters") this.resync();
    else if (e.table === "services" && e.kind === "delete") this.#orphans.add(e.object.id);
    else if (e.table === "tasks") this.#mark(e.object as Task);
    else if (e.table === "nodes" && e.kind === "delete") {
      // Dead tasks on a removed node will never report stopping: they can go now.
      for (const t of this.view((tx) => tx.find("tasks", by.nodeId(e.object.id)))) this.#mark(t);
    }
  }

  #mark(t: Task): void {
    if (!holdsSlot(t)) this.#slots.set(`${t.serviceId}\u0000${slotKey(t)}`, t);
  }

  protected reconcile(nowMs: number): void {
    this.#removeOrphans(nowMs);
    const limit = this.view(historyLimit);
    const slots = [...this.#slots].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, t]) => t);
    this.#slots.clear();
    this.writeEach(slots, (tx, t) => {
      const doomed = toReap(slotTasks(tx, t), limit, (id) => tx.get("nodes", id) !== undefined);
      for (const d of doomed) tx.delete("tasks", d.id, d.version);
    });
  }

  #removeOrphans(nowMs: number): void {
    const ids = [...this.#orphans].sort();
    this.#orphans.clear();
    for (const id of ids) {
      const tasks = this.view((tx) =>
        tx.get("services", id) === undefined ? tx.find("tasks", by.serviceId(id)) : [],
      );
      this.writeEach(tasks, (tx, t) => {
        const cur = tx.get("tasks", t.id);
        if (cur !== undefined && cur.desiredState < TaskState.REMOVE)
          setDesired(tx, cur, TaskState.REMOVE, nowMs);
      });
    }
  }
}

function historyLimit(tx: ReadTx): number {
  const c = tx.find("clusters")[0];
  const limit = c?.spec.taskHistoryLimit ?? 5;
  return Math.min(Math.max(0, limit), limits.taskHistoryPerSlotMax);
}
