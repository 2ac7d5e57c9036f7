// Simulated edge agents for tests: each step, every task on a reachable node moves one state
// toward its desired state, as a real agent's reports would (ASSIGNED -> ACCEPTED -> PREPARING
// -> READY -> STARTING -> RUNNING, or -> SHUTDOWN when told to stop). Faults come from a
// seeded PRNG: failed starts, slow starts (a task stuck in PREPARING for a while), crashes of
// running tasks, images that always fail. Job tasks complete after a few steps. An agent whose
// node is down reports nothing, exactly like a board on a dead link.

import { isTerminal, TaskState, type TaskStateValue } from "../../model/task-state.ts";
import type { Task, TaskStatus } from "../../model/types.ts";
import type { Rng } from "../../rand.ts";
import { by } from "../../store/indexes.ts";
import type { Store } from "../../store/store.ts";
import { isJobMode, modeOf } from "../tasks.ts";

export interface AgentFaults {
  /** Chance a start fails (STARTING -> FAILED, exit 1). */
  failStartRate?: number;
  /** Chance a task spends `slowStartSteps` extra steps in PREPARING (a slow image pull). */
  slowStartRate?: number;
  slowStartSteps?: number;
  /** Chance per step that a RUNNING task of a service (not a job) crashes. */
  crashRate?: number;
  /** Images whose tasks always fail to start. */
  badImages?: ReadonlySet<string>;
  /** Steps a job task runs before it completes with exit 0. */
  jobRunSteps?: number;
}

const FORWARD: ReadonlyMap<TaskStateValue, TaskStateValue> = new Map<
  TaskStateValue,
  TaskStateValue
>([
  [TaskState.ASSIGNED, TaskState.ACCEPTED],
  [TaskState.ACCEPTED, TaskState.PREPARING],
  [TaskState.PREPARING, TaskState.READY],
  [TaskState.READY, TaskState.STARTING],
  [TaskState.STARTING, TaskState.RUNNING],
]);

export class SimAgents {
  /** Task id -> steps it still waits (slow start) or runs (job). */
  readonly #wait = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly rng: Rng,
    public faults: AgentFaults = {},
  ) {}

  /** Every reachable node's agent reports one step of progress for each of its tasks. */
  step(nowMs: number): void {
    const nodes = this.store
      .view((tx) => tx.find("nodes"))
      .filter((n) => n.status.state === "ready");
    nodes.sort((a, b) => (a.id < b.id ? -1 : 1));
    this.store.batch((b) => {
      for (const node of nodes) {
        const tasks = this.store.view((tx) => tx.find("tasks", by.nodeId(node.id)));
        tasks.sort((a, b) => (a.id < b.id ? -1 : 1));
        for (const t of tasks) {
          if (isTerminal(t.status.state) || t.status.state < TaskState.ASSIGNED) continue;
          const status = this.#next(t, nowMs);
          if (status === undefined) continue;
          b.update((tx) => {
            const cur = tx.get("tasks", t.id);
            if (cur !== undefined && cur.version === t.version)
              tx.update("tasks", { ...cur, status, updatedAt: nowMs });
          });
        }
      }
    });
  }

  #next(t: Task, nowMs: number): TaskStatus | undefined {
    const at = (state: TaskStateValue, message: string, exitCode?: number): TaskStatus =>
      exitCode === undefined
        ? { state, timestamp: nowMs, message }
        : { state, timestamp: nowMs, message, exitCode };
    if (t.desiredState > TaskState.RUNNING) return at(TaskState.SHUTDOWN, "stopped");
    const s = t.status.state;
    if (s === TaskState.RUNNING) return this.#whileRunning(t, at);
    if (s >= t.desiredState) return undefined; // desired READY: prepared, waiting to start
    if (s === TaskState.PREPARING && this.#slow(t)) return undefined;
    if (s === TaskState.STARTING && this.#failsToStart(t))
      return at(TaskState.FAILED, "start failed", 1);
    const next = FORWARD.get(s);
    return next === undefined
      ? undefined
      : at(next, next === TaskState.RUNNING ? "started" : "progress");
  }

  #whileRunning(
    t: Task,
    at: (s: TaskStateValue, m: string, code?: number) => TaskStatus,
  ): TaskStatus | undefined {
    const service = this.store.view((tx) => tx.get("services", t.serviceId));
    if (service !== undefined && isJobMode(modeOf(service))) {
      const left = this.#wait.get(t.id) ?? this.faults.jobRunSteps ?? 2;
      if (left > 0) {
        this.#wait.set(t.id, left - 1);
        return undefined;
      }
      this.#wait.delete(t.id);
      return at(TaskState.COMPLETE, "finished", 0);
    }
    if (this.rng.float() < (this.faults.crashRate ?? 0))
      return at(TaskState.FAILED, "crashed", 137);
    return undefined;
  }

  #slow(t: Task): boolean {
    let left = this.#wait.get(t.id);
    if (left === undefined) {
      const slow = this.rng.float() < (this.faults.slowStartRate ?? 0);
      left = slow ? (this.faults.slowStartSteps ?? 10) : 0;
    }
    if (left <= 0) {
      this.#wait.delete(t.id);
      return false;
    }
    this.#wait.set(t.id, left - 1);
    return true;
  }

  #failsToStart(t: Task): boolean {
    if (this.faults.badImages?.has(t.spec.containerSpec.image)) return true;
    return this.rng.float() < (this.faults.failStartRate ?? 0);
  }
}
