// Invariant checkers for whole-lifecycle runs. `Safety` watches every store change while faults
// happen (nothing moves backwards, no live task sits on a node that does not fit it, no task
// is left on a node lost past its grace); `convergence` says what is still wrong once the
// faults stop (an empty list means the fleet reached its desired state).

import { isTerminal, TaskState } from "../../model/task-state.ts";
import type { Node, Service, Task } from "../../model/types.ts";
import type { Store } from "../../store/store.ts";
import type { Watcher } from "../../store/watch.ts";
import { Placements, placementKey } from "../eligibility.ts";
import { serviceOptions } from "../options.ts";
import { isGlobalMode, isLive, isRunnable, isSchedulable, modeOf, slotKey } from "../tasks.ts";
import { isOutdated } from "../update-run.ts";

export class Safety {
  readonly #watcher: Watcher;
  readonly #placements = new Placements();
  /** Node id -> when the harness marked it lost. */
  readonly lostSince = new Map<string, number>();
  readonly violations: string[] = [];

  constructor(private readonly store: Store) {
    this.#watcher = store.watch({ tables: ["tasks"] });
  }

  /** Checks the changes since the last call, and the whole state at `nowMs`. */
  check(nowMs: number, slackMs: number): void {
    for (const e of this.#watcher.drain()) {
      if (e.kind !== "update") continue;
      const [a, b] = [e.old as Task, e.object as Task];
      if (b.desiredState < a.desiredState) this.#fail(`task ${b.id}: desired state went back`);
      if (b.status.state < a.status.state) this.#fail(`task ${b.id}: status went back`);
      if (a.nodeId !== "" && b.nodeId !== a.nodeId) this.#fail(`task ${b.id}: changed node`);
    }
    this.store.view((tx) => {
      const nodes = new Map(tx.find("nodes").map((n) => [n.id, n]));
      for (const t of tx.find("tasks")) {
        if (!isLive(t) || t.nodeId === "") continue;
        const svc = tx.get("services", t.serviceId);
        if (svc === undefined) continue;
        this.#checkTask(t, svc, nodes.get(t.nodeId), nowMs, slackMs);
      }
    });
  }

  #checkTask(t: Task, svc: Service, node: Node | undefined, nowMs: number, slackMs: number) {
    if (node === undefined) return;
    const fits = this.#placements.fits(placementKey(t.serviceId, t.specVersion), t.spec, node);
    if (fits === false) this.#fail(`task ${t.id} (${svc.spec.name}) on ${node.id}: misfit`);
    const since = this.lostSince.get(node.id);
    if (since === undefined || isGlobalMode(modeOf(svc))) return;
    const grace = serviceOptions(svc).disconnectGraceMs;
    if (nowMs > since + grace + slackMs)
      this.#fail(`task ${t.id} (${svc.spec.name}) still on ${node.id}, lost since ${since}`);
  }

  #fail(what: string): void {
    if (this.violations.length < 20 && !this.violations.includes(what)) this.violations.push(what);
  }

  close(): void {
    this.#watcher.close();
  }
}

/** What is not yet as desired (empty once converged). */
export function convergence(store: Store): string[] {
  const problems: string[] = [];
  const placements = new Placements();
  store.view((tx) => {
    const nodes = tx.find("nodes");
    const limit = tx.find("clusters")[0]?.spec.taskHistoryLimit ?? 5;
    for (const svc of tx.find("services")) {
      const tasks = tx.find("tasks").filter((t) => t.serviceId === svc.id);
      const live = tasks.filter(isRunnable);
      const fits = (n: Node) =>
        placements.fits(placementKey(svc.id, svc.specVersion), svc.spec.taskTemplate, n) === true;
      const name = svc.spec.name;
      for (const t of live) {
        if (t.status.state !== TaskState.RUNNING && modeOf(svc) !== "replicatedJob")
          problems.push(`${name}: task ${t.id} is ${t.status.state}, not running`);
        if (isOutdated(t, svc)) problems.push(`${name}: task ${t.id} runs an outdated spec`);
        const node = nodes.find((n) => n.id === t.nodeId);
        if (node !== undefined && !isSchedulable(node) && !isGlobalMode(modeOf(svc)))
          problems.push(`${name}: task ${t.id} on unschedulable ${node.id}`);
      }
      const keys = new Set(live.map(slotKey));
      if (keys.size !== live.length) problems.push(`${name}: a slot has two live tasks`);
      const eligible = (ns: Node[]) => ns.filter((n) => isSchedulable(n) && fits(n));
      problems.push(...modeProblems(svc, tasks, live, eligible(nodes)));
      if (serviceOptions(svc).rebalance) problems.push(...imbalance(name, live, eligible(nodes)));
      problems.push(...historyProblems(name, tasks, limit));
      const st = svc.updateStatus?.state;
      if (st === "updating" || st === "rollback_started") problems.push(`${name}: still ${st}`);
    }
  });
  return problems;
}

function modeProblems(svc: Service, tasks: Task[], live: Task[], eligible: Node[]): string[] {
  const m = svc.spec.mode;
  const name = svc.spec.name;
  if ("replicated" in m && live.length !== m.replicated.replicas)
    return [`${name}: ${live.length} of ${m.replicated.replicas} replicas`];
  if ("global" in m) {
    const on = live.map((t) => t.nodeId).sort();
    const want = eligible.map((n) => n.id).sort();
    if (on.join() !== want.join()) return [`${name}: on [${on}], want [${want}]`];
  }
  if ("globalJob" in m) {
    const done = (n: Node) =>
      tasks.some(
        (t) =>
          t.nodeId === n.id &&
          t.specVersion === svc.specVersion &&
          t.status.state === TaskState.COMPLETE,
      );
    const missing = eligible.filter((n) => !done(n)).map((n) => n.id);
    if (missing.length > 0) return [`${name}: not completed on [${missing}]`];
  }
  if ("replicatedJob" in m) {
    const done = new Set(
      tasks
        .filter((t) => t.specVersion === svc.specVersion && t.status.state === TaskState.COMPLETE)
        .map((t) => t.slot),
    );
    if (done.size !== m.replicatedJob.totalCompletions)
      return [`${name}: ${done.size} of ${m.replicatedJob.totalCompletions} completions`];
    if (tasks.some((t) => isRunnable(t) && !isTerminal(t.status.state)))
      return [`${name}: a completed job still runs tasks`];
  }
  return [];
}

/** A rebalanced service: no eligible node runs two tasks more than another. */
function imbalance(name: string, live: Task[], eligible: Node[]): string[] {
  const counts = new Map(eligible.map((n) => [n.id, 0]));
  for (const t of live) if (counts.has(t.nodeId)) counts.set(t.nodeId, counts.get(t.nodeId)! + 1);
  const c = [...counts.values()];
  if (c.length === 0 || Math.max(...c) - Math.min(...c) < 2) return [];
  return [`${name}: unbalanced ${JSON.stringify(Object.fromEntries(counts))}`];
}

/** Stopped dead tasks kept per slot stay within the cluster's history limit. */
function historyProblems(name: string, tasks: Task[], limit: number): string[] {
  const dead = new Map<string, number>();
  for (const t of tasks) {
    if (t.desiredState <= TaskState.COMPLETE || !isTerminal(t.status.state)) continue;
    dead.set(slotKey(t), (dead.get(slotKey(t)) ?? 0) + 1);
  }
  const over = [...dead].filter(([, n]) => n > limit);
  return over.map(([k, n]) => `${name}: slot ${k} keeps ${n} dead tasks (limit ${limit})`);
}
