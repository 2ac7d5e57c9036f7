// Pure helpers every loop uses to read and write tasks: slots, the meaning of desired states,
// task creation and replacement. No loop calls another; they share these definitions so that
// they agree on what a slot is.
//
// Desired states, as the orchestrator uses them:
//   READY      run up to READY and wait (a stop-first update's new task, until the old stops);
//   RUNNING    run it;
//   COMPLETE   the task has stopped and is not to be restarted: it keeps its slot filled, so
//              nothing refills it (restart condition none, attempts exhausted, a finished job);
//   SHUTDOWN   stop it; it is history (replaced, or its node is no longer eligible);
//   REMOVE     stop it and delete it once stopped (scale down, service removed).

import { assert } from "../errors.ts";
import { isTerminal, TaskState, type TaskStateValue } from "../model/task-state.ts";
import type { Node, Service, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { ReadTx, WriteTx } from "../store/tx.ts";

export type ModeKind = "replicated" | "global" | "replicatedJob" | "globalJob";

export function modeOf(s: Pick<Service, "spec">): ModeKind {
  const m = s.spec.mode;
  if ("replicated" in m) return "replicated";
  if ("global" in m) return "global";
  if ("replicatedJob" in m) return "replicatedJob";
  return "globalJob";
}

export const isJobMode = (k: ModeKind) => k === "replicatedJob" || k === "globalJob";
export const isGlobalMode = (k: ModeKind) => k === "global" || k === "globalJob";

/** The orchestrator wants the task to run (or to get ready to). */
export const isRunnable = (t: Task) => t.desiredState <= TaskState.RUNNING;
/** The task fills its slot: runnable, or finished and not to be restarted. */
export const holdsSlot = (t: Task) => t.desiredState <= TaskState.COMPLETE;
/** Runnable and not known to have stopped. */
export const isLive = (t: Task) => isRunnable(t) && !isTerminal(t.status.state);

/** The slot key within a service: the slot number, or `@node` for a global service's task. */
export function slotKey(t: Pick<Task, "slot" | "nodeId">): string {
  return t.slot > 0 ? String(t.slot) : `@${t.nodeId}`;
}

/** Every task sharing a task's slot (itself included). */
export function slotTasks(tx: ReadTx, t: Task): Task[] {
  const q = t.slot > 0 ? by.slot(t.serviceId, t.slot) : by.globalSlot(t.serviceId, t.nodeId);
  return tx.find("tasks", q);
}

/** A node the scheduler may place new tasks on. */
export function isSchedulable(node: Node | undefined): boolean {
  return node !== undefined && node.status.state === "ready" && node.spec.availability === "active";
}

/** A node that stopped reporting: its tasks' status is stale. */
export function isLost(node: Node | undefined): boolean {
  return node === undefined || node.status.state === "down" || node.status.state === "disconnected";
}

export interface NewTask {
  id: string;
  slot: number;
  /** Global services pin the task to its node; "" lets the scheduler choose. */
  nodeId: string;
  nowMs: number;
  desiredState?: TaskStateValue;
  message?: string;
}

/** A task of the service's current spec, PENDING (fleet has no allocator: NEW -> PENDING). */
export function newTask(service: Service, n: NewTask): Task {
  assert(n.slot > 0 || n.nodeId !== "", "a task needs a slot or a node");
  return {
    id: n.id,
    version: 0,
    createdAt: n.nowMs,
    updatedAt: n.nowMs,
    serviceId: service.id,
    slot: n.slot,
    nodeId: n.nodeId,
    spec: service.spec.taskTemplate,
    specVersion: service.specVersion,
    desiredState: n.desiredState ?? TaskState.RUNNING,
    status: { state: TaskState.PENDING, timestamp: n.nowMs, message: n.message ?? "pending" },
  };
}

/** Moves a task's desired state forward (never back: a backwards move is a bug). */
export function setDesired(tx: WriteTx, t: Task, desired: TaskStateValue, nowMs: number): void {
  if (t.desiredState === desired) return;
  assert(desired > t.desiredState, `task ${t.id}: desired state moved backwards`);
  tx.update("tasks", { ...t, desiredState: desired, updatedAt: nowMs });
}

/**
 * Replaces a task by a new one of the service's current spec in the same slot; the old one is
 * shut down in the same transaction. A global task's replacement stays on its node.
 */
export function replaceTask(
  tx: WriteTx,
  service: Service,
  old: Task,
  n: { id: string; nowMs: number; desiredState?: TaskStateValue; message: string },
): Task {
  const next = newTask(service, {
    id: n.id,
    slot: old.slot,
    nodeId: old.slot > 0 ? "" : old.nodeId,
    nowMs: n.nowMs,
    ...(n.desiredState === undefined ? {} : { desiredState: n.desiredState }),
    message: n.message,
  });
  if (old.desiredState < TaskState.SHUTDOWN) setDesired(tx, old, TaskState.SHUTDOWN, n.nowMs);
  tx.create("tasks", next);
  return next;
}

/**
 * Takes a task out of service because of where it is (lost, drained or misfit node): it is
 * replaced in its slot, unless another live task already serves the slot (a start-first
 * update or a rebalance move in flight), in which case it only stops.
 */
export function moveTask(
  tx: WriteTx,
  service: Service,
  t: Task,
  n: { id: () => string; nowMs: number; message: string },
): void {
  if (slotTasks(tx, t).some((o) => o.id !== t.id && isLive(o))) {
    setDesired(tx, t, TaskState.SHUTDOWN, n.nowMs);
    return;
  }
  replaceTask(tx, service, t, { id: n.id(), nowMs: n.nowMs, message: n.message });
}

/** Groups the tasks that hold a slot by slot key. */
export function slotsOf(tasks: readonly Task[]): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const t of tasks) {
    if (!holdsSlot(t)) continue;
    const k = slotKey(t);
    const list = out.get(k);
    if (list === undefined) out.set(k, [t]);
    else list.push(t);
  }
  return out;
}

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Structural equality of plain data (key order ignored): specs as they come from the store. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => sameValue(ra[k], rb[k]));
}
