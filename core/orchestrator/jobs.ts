// Replicated jobs: run tasks until `totalCompletions` of them have completed, at most
// `maxConcurrent` at once. Each completion fills one slot (1..totalCompletions); a failed task
// is retried in its slot by the restart loop, as its policy allows, and a slot whose retries
// are exhausted stays failed (the job then ends short of its total; nothing loops forever).
// A new spec version is a new run of the job: the old run's live tasks are shut down.

import { isTerminal, TaskState } from "../model/task-state.ts";
import type { Service, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { StoreEvent } from "../store/watch.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import { isRunnable, modeOf, newTask, setDesired } from "./tasks.ts";

export interface JobProgress {
  /** Slots that completed. */
  completed: number;
  /** Slots with a task that should run (running, pending, or waiting to be restarted). */
  live: number;
  /** Slots that ended for good without completing. */
  failed: number;
  /** Slot numbers in use by this run. */
  used: Set<number>;
}

/** Where a run of a job stands, from its tasks of the current spec version (pure). */
export function jobProgress(tasks: readonly Task[]): JobProgress {
  const bySlot = new Map<number, Task[]>();
  for (const t of tasks) bySlot.set(t.slot, [...(bySlot.get(t.slot) ?? []), t]);
  const p: JobProgress = { completed: 0, live: 0, failed: 0, used: new Set(bySlot.keys()) };
  for (const ts of bySlot.values()) {
    if (ts.some((t) => t.status.state === TaskState.COMPLETE)) p.completed++;
    else if (ts.some(isRunnable)) p.live++;
    else if (ts.some((t) => t.desiredState === TaskState.COMPLETE && isTerminal(t.status.state)))
      p.failed++;
    else p.used.delete(ts[0]!.slot); // every task was shut down from outside: reopen the slot
  }
  return p;
}

export class ReplicatedJobLoop extends BaseLoop {
  readonly #dirty = new Set<string>();

  constructor(store: Store, options: LoopOptions) {
    super("replicated-job", store, options, { tables: ["services", "tasks"] });
  }

  protected resync(): void {
    for (const s of this.view((tx) => tx.find("services"))) this.#dirty.add(s.id);
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "commit") return;
    if (e.table === "services" && e.kind !== "delete") this.#dirty.add(e.object.id);
    if (e.table !== "tasks") return;
    const t = e.object as Task;
    const old = e.kind === "update" ? (e.old as Task) : undefined;
    if (old === undefined || old.desiredState !== t.desiredState) this.#dirty.add(t.serviceId);
    else if (isTerminal(t.status.state) && !isTerminal(old.status.state))
      this.#dirty.add(t.serviceId);
  }

  protected reconcile(nowMs: number): void {
    const ids = [...this.#dirty].sort();
    this.#dirty.clear();
    for (const id of ids) this.#reconcileJob(id, nowMs);
  }

  #reconcileJob(id: string, nowMs: number): void {
    const found = this.view((tx) => {
      const s = tx.get("services", id);
      return s && { service: s, tasks: tx.find("tasks", by.serviceId(id)) };
    });
    if (found === undefined || modeOf(found.service) !== "replicatedJob") return;
    const { service, tasks } = found;
    const stale = tasks.filter((t) => t.specVersion !== service.specVersion && isRunnable(t));
    this.writeEach(stale, (tx, t) => {
      const cur = tx.get("tasks", t.id);
      if (cur !== undefined) setDesired(tx, cur, TaskState.SHUTDOWN, nowMs);
    });
    const current = tasks.filter((t) => t.specVersion === service.specVersion);
    this.#startSlots(service, jobProgress(current), nowMs);
  }

  #startSlots(service: Service, p: JobProgress, nowMs: number): void {
    const mode = "replicatedJob" in service.spec.mode ? service.spec.mode.replicatedJob : undefined;
    if (mode === undefined) return;
    const remaining = mode.totalCompletions - p.completed - p.failed - p.live;
    const room = Math.max(1, mode.maxConcurrent) - p.live;
    const count = Math.min(remaining, room);
    if (count <= 0) return;
    const slots: number[] = [];
    for (let n = 1; slots.length < count; n++) if (!p.used.has(n)) slots.push(n);
    this.writeEach(slots, (tx, slot) => {
      tx.create("tasks", newTask(service, { id: this.newId(tx), slot, nodeId: "", nowMs }));
    });
  }
}
