// The scheduler's entry point: pure logic over a read-only view, returning a plan. Unassigned
// tasks are grouped by service and spec version; each group costs one pass of the filter
// pipeline over the nodes, then a heap (and, with spread preferences, a tree of label values)
// places all of its tasks. Nothing in the view is mutated: the working state is our own copy.

import { ConstraintError } from "../constraint/errors.ts";
import { parseTarget } from "../constraint/keys.ts";
import { parseConstraints } from "../constraint/parse.ts";
import { normalizePlatform } from "../constraint/platform.ts";
import type { Constraint, Target } from "../constraint/types.ts";
import { assert } from "../errors.ts";
import { TaskState } from "../model/task-state.ts";
import type { Task } from "../model/types.ts";
import { createRng } from "../rand.ts";
import { explain, Rejections } from "./explain.ts";
import { type Fit, fit, type Group, newStaticMemo } from "./filters.ts";
import { buildNodeInfos, hostPortsOf, type NodeInfo, occupy, reservationsOf } from "./node-info.ts";
import type { Candidate } from "./rank.ts";
import { buildTree, placeSpread } from "./spread.ts";
import type { Plan, ScheduleOptions, SchedulerView } from "./view.ts";

interface Run {
  readonly view: SchedulerView;
  readonly infos: readonly NodeInfo[];
  readonly byId: ReadonlyMap<string, NodeInfo>;
  /** Groups by `serviceId/specVersion`, or the reason the spec cannot be scheduled. */
  readonly groups: Map<string, Group | string>;
  /** Static-link memos by placement signature (platforms + constraints), see Group. */
  readonly memos: Map<string, Uint8Array>;
  readonly assignments: Map<string, string>;
  readonly pending: Map<string, string>;
}

export function schedule(view: SchedulerView, options: ScheduleOptions): Plan {
  const infos = buildNodeInfos(view, createRng(options.seed));
  const run: Run = {
    view,
    infos,
    byId: new Map(infos.map((info) => [info.node.id, info])),
    groups: new Map(),
    memos: new Map(),
    assignments: new Map(),
    pending: new Map(),
  };
  const { pinned, grouped } = unassigned(view.tasks);
  // Pinned tasks (a global service's, one per node) first: they have no other node to go to.
  for (const task of pinned) schedulePinned(run, task);
  for (const tasks of grouped) scheduleGroup(run, tasks);
  return { assignments: run.assignments, pending: run.pending };
}

/** A task the scheduler should place: not yet assigned, and still meant to run. */
export function needsScheduling(task: Task): boolean {
  return task.status.state <= TaskState.PENDING && task.desiredState <= TaskState.RUNNING;
}

function unassigned(tasks: readonly Task[]): { pinned: Task[]; grouped: Task[][] } {
  const pinned: Task[] = [];
  const groups = new Map<string, Task[]>();
  for (const task of tasks) {
    if (!needsScheduling(task)) continue;
    if (task.nodeId !== "") {
      pinned.push(task);
      continue;
    }
    const key = groupKey(task);
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [task]);
    else list.push(task);
  }
  // Sorted, so the plan depends on the view's contents and the seed, not on the task order.
  pinned.sort((a, b) => compareStrings(a.id, b.id));
  const grouped = [...groups.values()].sort((a, b) => compareTasks(a[0]!, b[0]!));
  for (const list of grouped) list.sort((a, b) => a.slot - b.slot || compareStrings(a.id, b.id));
  return { pinned, grouped };
}

function scheduleGroup(run: Run, tasks: readonly Task[]): void {
  const g = groupOf(run, tasks[0]!);
  if (typeof g === "string") {
    for (const task of tasks) run.pending.set(task.id, g);
    return;
  }
  const failed = run.view.recentFailures?.get(g.serviceId);
  const rejections = new Rejections();
  const candidates: Candidate[] = [];
  const f: Fit = { capacity: 0, reason: "" };
  for (const info of run.infos) {
    fit(info, g, f);
    if (f.capacity === 0) rejections.add(f.reason);
    else {
      const capacity = Math.min(f.capacity, tasks.length);
      candidates.push({
        info,
        capacity,
        reason: f.reason,
        failed: failed?.has(info.node.id) ?? false,
        count: info.perService.get(g.serviceId) ?? 0,
      });
    }
  }
  const chosen: NodeInfo[] = [];
  placeSpread(buildTree(candidates, g.spread), tasks.length, g, chosen);
  tasks.forEach((task, i) => {
    const info = chosen[i];
    if (info !== undefined) run.assignments.set(task.id, info.node.id);
  });
  if (chosen.length === tasks.length) return;
  // Every candidate is full by now (or the heap would have placed more): count what filled
  // it, then explain.
  for (const c of candidates) {
    assert(c.capacity === 0 && c.reason !== "", "tasks left pending beside a node with room");
    rejections.add(c.reason);
  }
  const message = explain(rejections, g);
  for (const task of tasks.slice(chosen.length)) run.pending.set(task.id, message);
}

function schedulePinned(run: Run, task: Task): void {
  const info = run.byId.get(task.nodeId);
  if (info === undefined) {
    run.pending.set(task.id, `no suitable node (node ${task.nodeId} not found)`);
    return;
  }
  const g = groupOf(run, task);
  if (typeof g === "string") {
    run.pending.set(task.id, g);
    return;
  }
  const f = fit(info, g);
  if (f.capacity === 0) {
    const rejections = new Rejections();
    rejections.add(f.reason);
    run.pending.set(task.id, explain(rejections, g));
    return;
  }
  occupy(info, g.serviceId, g.reservation, g.hostPorts);
  run.assignments.set(task.id, info.node.id);
}

/** The group a task belongs to, built once per service and spec version. */
function groupOf(run: Run, task: Task): Group | string {
  const key = groupKey(task);
  let g = run.groups.get(key);
  if (g === undefined) {
    g = buildGroup(run, task);
    run.groups.set(key, g);
  }
  return g;
}

function buildGroup(run: Run, task: Task): Group | string {
  const placement = task.spec.placement;
  let constraints: Constraint[];
  try {
    constraints = parseConstraints(placement.constraints);
  } catch (err) {
    if (err instanceof ConstraintError) return `invalid placement: ${err.message}`;
    throw err;
  }
  const spread: Target[] = [];
  for (const pref of placement.preferences) {
    const t = parseTarget(pref.spread);
    if (!t.ok) {
      const hint = t.suggestion === undefined ? "" : ` (did you mean \`${t.suggestion}\`?)`;
      return `invalid placement: spread preference \`${pref.spread}\` is not a key${hint}`;
    }
    spread.push(t.target);
  }
  const platforms = placement.platforms.map(normalizePlatform);
  const signature = JSON.stringify([platforms, placement.constraints]);
  let staticMemo = run.memos.get(signature);
  if (staticMemo === undefined) {
    staticMemo = newStaticMemo(run.infos.length);
    run.memos.set(signature, staticMemo);
  }
  return {
    serviceId: task.serviceId,
    specVersion: task.specVersion,
    reservation: reservationsOf(task),
    platforms,
    constraints,
    hostPorts: hostPortsOf(run.view.services.get(task.serviceId)),
    maxReplicasPerNode: placement.maxReplicasPerNode,
    spread,
    staticMemo,
  };
}

function groupKey(task: Task): string {
  return `${task.serviceId}\u0000${task.specVersion}`;
}

function compareTasks(a: Task, b: Task): number {
  return compareStrings(a.serviceId, b.serviceId) || a.specVersion - b.specVersion;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
