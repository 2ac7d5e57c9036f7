// A stand-in for the orchestrator, scheduler and agents in CLI tests: every period it gives each
// replicated service its tasks at the current spec version, shuts down stale ones and moves the
// rest one state forward. Images and constraints script the outcome: a constraint mentioning
// `nvme` leaves tasks pending with a scheduler-like explanation; image `crash` fails at start.

import { TaskState, type TaskStateValue } from "../../core/model/task-state.ts";
import type { Service, Task } from "../../core/model/types.ts";
import { by } from "../../core/store/indexes.ts";
import type { Store } from "../../core/store/store.ts";
import type { WriteTx } from "../../core/store/tx.ts";

export const PENDING_WHY =
  "no suitable node (constraint node.labels.storage==nvme not satisfied on 3 nodes)";
export const CRASH_WHY = "container exited with code 1";

export function fakeOrchestrator(store: Store, periodMs = 40): { stop(): void } {
  let n = 0;
  const timer = setInterval(() => {
    store.update((tx) => {
      for (const s of tx.find("services")) reconcile(tx, s, () => `task${++n}x${Date.now()}`);
    });
  }, periodMs);
  return { stop: () => clearInterval(timer) };
}

function reconcile(tx: WriteTx, s: Service, newId: () => string): void {
  const want = "replicated" in s.spec.mode ? s.spec.mode.replicated.replicas : 1;
  const tasks = tx.find("tasks", by.serviceId(s.id));
  const live = tasks.filter((t) => t.desiredState <= TaskState.RUNNING);
  for (const t of live) {
    if (t.specVersion === s.specVersion && t.slot <= want) continue;
    const state = Math.max(t.status.state, TaskState.SHUTDOWN) as TaskStateValue;
    tx.update("tasks", {
      ...t,
      desiredState: TaskState.SHUTDOWN,
      status: { ...t.status, state, message: "shutdown" },
    });
  }
  for (let slot = 1; slot <= want; slot++) {
    if (live.some((t) => t.slot === slot && t.specVersion === s.specVersion)) continue;
    tx.create("tasks", newTask(newId(), s, slot));
  }
  for (const t of live) if (t.specVersion === s.specVersion && t.slot <= want) advance(tx, s, t);
  const st = s.updateStatus;
  const current = live.filter((t) => t.specVersion === s.specVersion);
  if (
    st?.state === "rollback_started" &&
    current.every((t) => t.status.state === TaskState.RUNNING)
  ) {
    tx.update("services", { ...s, updateStatus: { ...st, state: "rollback_completed" } });
  }
}

function newTask(id: string, s: Service, slot: number): Task {
  return {
    id,
    version: 0,
    createdAt: Date.now(),
    updatedAt: Date.now(),
    serviceId: s.id,
    slot,
    nodeId: "",
    spec: s.spec.taskTemplate,
    specVersion: s.specVersion,
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.PENDING, timestamp: Date.now(), message: "pending" },
  };
}

const NEXT: Partial<Record<number, number>> = {
  [TaskState.PENDING]: TaskState.ASSIGNED,
  [TaskState.ASSIGNED]: TaskState.PREPARING,
  [TaskState.PREPARING]: TaskState.STARTING,
  [TaskState.STARTING]: TaskState.RUNNING,
};

function advance(tx: WriteTx, s: Service, t: Task): void {
  const next = NEXT[t.status.state];
  if (next === undefined) return;
  const status = { ...t.status, timestamp: Date.now() };
  if (
    t.status.state === TaskState.PENDING &&
    s.spec.taskTemplate.placement.constraints.some((c) => c.includes("nvme"))
  ) {
    if (t.status.message === PENDING_WHY) return;
    tx.update("tasks", { ...t, status: { ...status, message: PENDING_WHY } });
    return;
  }
  if (next === TaskState.RUNNING && t.spec.containerSpec.image === "crash") {
    tx.update("tasks", {
      ...t,
      status: { ...status, state: TaskState.FAILED, message: "failed", err: CRASH_WHY },
    });
    return;
  }
  const nodeId = t.nodeId || "w1";
  tx.update("tasks", {
    ...t,
    nodeId,
    status: { ...status, state: next as Task["status"]["state"], message: "" },
  });
}
