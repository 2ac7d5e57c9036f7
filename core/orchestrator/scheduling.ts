// The scheduling loop: the only writer of ASSIGNED. It hands the pure scheduler (core/scheduler)
// a read-only view of nodes and tasks, and commits its plan in a store batch: a nodeId and
// ASSIGNED for each placement, the scheduler's explanation in status.message for each task
// that stays PENDING. It runs when something that could change a placement happened (a task
// to place, a node change, a task freeing its node) and never places a task itself.

import { limits } from "../limits.ts";
import { isActive, statesThroughRunning, TaskState } from "../model/task-state.ts";
import type { Service, Task } from "../model/types.ts";
import { needsScheduling, schedule } from "../scheduler/schedule.ts";
import type { Plan, SchedulerView } from "../scheduler/view.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { ReadTx, WriteTx } from "../store/tx.ts";
import type { StoreEvent } from "../store/watch.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import { isRunnable } from "./tasks.ts";

const VIEW_STATES = statesThroughRunning;

export class SchedulingLoop extends BaseLoop {
  #wanted = false;
  #runs = 0;
  readonly #seed: number;
  /** Service id -> node id -> when tasks of the service failed there (the latest few). */
  readonly #failures = new Map<string, Map<string, number[]>>();

  constructor(store: Store, options: LoopOptions) {
    super("scheduling", store, options, { tables: ["tasks", "nodes", "services"] });
    this.#seed = options.seed;
  }

  /** Scheduling passes that ran (for tests and metrics). */
  get runs(): number {
    return this.#runs;
  }

  protected resync(): void {
    this.#wanted = true;
  }

  protected observe(e: StoreEvent, nowMs: number): void {
    if (e.kind === "commit") return;
    if (e.table !== "tasks") {
      this.#wanted = true;
      return;
    }
    const t = e.object as Task;
    if (e.kind === "update" && isIrrelevant(e.old as Task, t)) return;
    // Count the moment a task fails, not every later write to the failed task.
    const was = e.kind === "update" ? (e.old as Task).status.state : TaskState.NEW;
    if (failed(t.status.state) && !failed(was) && t.nodeId !== "") {
      this.#rememberFailure(t.serviceId, t.nodeId, nowMs);
    }
    this.#wanted = true;
  }

  protected reconcile(nowMs: number): void {
    if (!this.#wanted) return;
    this.#wanted = false;
    const view = this.view((tx) => this.#snapshot(tx, nowMs));
    if (view === undefined) return;
    const plan = schedule(view, { seed: (this.#seed + this.#runs++) >>> 0 });
    this.#commit(plan, nowMs);
  }

  #snapshot(tx: ReadTx, nowMs: number): SchedulerView | undefined {
    const waiting =
      tx.count("tasks", by.state(TaskState.NEW)) + tx.count("tasks", by.state(TaskState.PENDING));
    if (waiting === 0) return undefined;
    const tasks: Task[] = [];
    // A task told to stop does not count on its node: its replacement (an update's, a move's)
    // may take its place. No container is overcommitted by this: a stop-first replacement is
    // held at READY until the old task has stopped (update.ts).
    for (const s of VIEW_STATES) {
      for (const t of tx.find("tasks", by.state(s))) if (isRunnable(t)) tasks.push(t);
    }
    const services = new Map<string, Service>(tx.find("services").map((s) => [s.id, s]));
    return { nodes: tx.find("nodes"), tasks, services, recentFailures: this.#recent(nowMs) };
  }

  #commit(plan: Plan, nowMs: number): void {
    this.writeEach(plan.assignments, (tx, [taskId, nodeId]) => {
      const t = placeable(tx, taskId);
      if (t === undefined || (t.nodeId !== "" && t.nodeId !== nodeId)) return;
      const status = { state: TaskState.ASSIGNED, timestamp: nowMs, message: "assigned" };
      tx.update("tasks", { ...t, nodeId, status, updatedAt: nowMs });
    });
    this.writeEach(plan.pending, (tx, [taskId, message]) => {
      const t = placeable(tx, taskId);
      if (t === undefined) return;
      if (t.status.state === TaskState.PENDING && t.status.message === message) return;
      const status = { state: TaskState.PENDING, timestamp: nowMs, message };
      tx.update("tasks", { ...t, status, updatedAt: nowMs });
    });
  }

  #rememberFailure(serviceId: string, nodeId: string, nowMs: number): void {
    let m = this.#failures.get(serviceId);
    if (m === undefined) {
      m = new Map();
      this.#failures.set(serviceId, m);
    }
    const times = m.get(nodeId) ?? [];
    m.delete(nodeId); // re-inserted last: the map's order is least recently failed first
    m.set(nodeId, [...times, nowMs].slice(-limits.schedulerFailuresToAvoidNode));
    if (m.size > limits.schedulerFailuresPerServiceMax) m.delete(m.keys().next().value!);
  }

  /** Nodes where a service failed often enough, recently enough, to be ranked last. */
  #recent(nowMs: number): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const since = nowMs - limits.schedulerFailureMemoryMs;
    for (const [svc, m] of this.#failures) {
      const bad = new Set<string>();
      for (const [node, times] of m) {
        const kept = times.filter((t) => t > since);
        if (kept.length === 0) m.delete(node);
        else m.set(node, kept);
        if (kept.length >= limits.schedulerFailuresToAvoidNode) bad.add(node);
      }
      if (m.size === 0) this.#failures.delete(svc);
      if (bad.size > 0) out.set(svc, bad);
    }
    return out;
  }
}

function failed(state: number): boolean {
  return state === TaskState.FAILED || state === TaskState.REJECTED;
}

function placeable(tx: WriteTx, id: string): Task | undefined {
  const t = tx.get("tasks", id);
  return t !== undefined && needsScheduling(t) ? t : undefined;
}

/**
 * An update that cannot change a placement: our own rewrite of a pending task's explanation,
 * or an agent moving a task between active states (it holds the same node either way).
 */
function isIrrelevant(old: Task, t: Task): boolean {
  if (old.desiredState !== t.desiredState || old.nodeId !== t.nodeId) return false;
  const pendingRewrite =
    old.status.state <= TaskState.PENDING && t.status.state === TaskState.PENDING;
  return pendingRewrite || (isActive(old.status.state) && isActive(t.status.state));
}
