// Gradual rebalancing, which swarm never had. A replicated service labelled
// `fleet.rebalance=gradual` (options.ts) has its tasks moved, one at a time, onto nodes that
// joined, came back up or became active again, until no eligible node runs two tasks more of
// the service than another. A move is start-first: a new task in the slot is pinned to the
// emptiest eligible node (the scheduler only checks it has room, or explains why not), and
// the old one is shut down once the new one runs, so the service never dips below its replica
// count. Between moves it waits the service's updateConfig.delayMs.
//
// It stands aside while an update runs or a slot is busy, skips services with spread
// preferences (the scheduler's spread then decides placement, not counts), and gives up until
// the next node change (or limits.rebalanceRetryMs) when a move cannot be placed or fails.
// Without the label nothing moves: `service update --force` redistributes everything at once.

import { limits } from "../limits.ts";
import { TaskState } from "../model/task-state.ts";
import type { Node, Service, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { StoreEvent } from "../store/watch.ts";
import { Placements, placementKey } from "./eligibility.ts";
import { BaseLoop, type LoopOptions, Timers } from "./loop.ts";
import { serviceOptions } from "./options.ts";
import { isLive, isRunnable, isSchedulable, modeOf, newTask, setDesired } from "./tasks.ts";
import { failedOnItsOwn, outdatedSlots } from "./update-run.ts";

interface Move {
  taskId: string;
  oldId: string;
  /** Tasks of the service on the source node when the move began. */
  fromCount: number;
  /** Tasks of the service per node when the move began. */
  counts: Map<string, number>;
}

export interface Pick {
  task: Task;
  to: string;
  counts: Map<string, number>;
}

/**
 * The task to move when the service is unbalanced over its eligible nodes; "wait" when it is
 * but nothing on the fullest node runs yet (pure).
 */
export function pickMove(
  tasks: readonly Task[],
  eligible: readonly Node[],
): Pick | "wait" | undefined {
  const counts = new Map<string, number>(eligible.map((n) => [n.id, 0]));
  const onNode = new Map<string, Task[]>();
  for (const t of tasks) {
    if (!isLive(t) || t.nodeId === "") continue;
    counts.set(t.nodeId, (counts.get(t.nodeId) ?? 0) + 1);
    onNode.set(t.nodeId, [...(onNode.get(t.nodeId) ?? []), t]);
  }
  if (eligible.length === 0) return undefined;
  const min = Math.min(...eligible.map((n) => counts.get(n.id)!));
  let from: string | undefined;
  for (const [node, c] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (from === undefined || c > counts.get(from)!) from = node;
  }
  if (from === undefined || counts.get(from)! - min < 2) return undefined;
  const candidates = onNode.get(from)!.filter((t) => t.status.state === TaskState.RUNNING);
  candidates.sort((a, b) => b.slot - a.slot);
  const task = candidates[0];
  const to = eligible
    .map((n) => n.id)
    .sort((a, b) => counts.get(a)! - counts.get(b)! || (a < b ? -1 : 1))[0]!;
  return task === undefined ? "wait" : { task, to, counts };
}

export class RebalanceLoop extends BaseLoop {
  readonly #armed = new Set<string>();
  readonly #moves = new Map<string, Move>();
  readonly #nextAt = new Map<string, number>();
  readonly #placements = new Placements();
  readonly #retries = new Timers();
  #armAll = false;

  constructor(store: Store, options: LoopOptions) {
    super("rebalance", store, options, { tables: ["nodes", "tasks", "services"] });
  }

  override nextDeadlineMs(): number | undefined {
    let min = this.#retries.next();
    for (const [id, at] of this.#nextAt) {
      if (this.#armed.has(id) && !this.#moves.has(id) && (min === undefined || at < min)) min = at;
    }
    return min;
  }

  protected resync(): void {
    this.#moves.clear();
    this.#armAll = true;
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "commit" || e.kind === "delete") return;
    if (e.table === "nodes") {
      const was = e.kind === "update" ? isSchedulable(e.old as Node) : false;
      if (!was && isSchedulable(e.object as Node)) this.#armAll = true;
    } else if (e.table === "services") this.#armed.add(e.object.id);
  }

  protected reconcile(nowMs: number): void {
    for (const id of this.#retries.take(nowMs)) this.#armed.add(id);
    if (this.#armAll) {
      for (const s of this.view((tx) => tx.find("services"))) this.#armed.add(s.id);
      this.#armAll = false;
    }
    for (const id of [...this.#moves.keys()].sort()) this.#follow(id, nowMs);
    for (const id of [...this.#armed].sort()) {
      if (this.#moves.has(id) || (this.#nextAt.get(id) ?? 0) > nowMs) continue;
      const r = this.#begin(id, nowMs);
      if (r === "busy") this.#giveUp(id, nowMs);
      else if (r === "balanced") this.#armed.delete(id);
    }
  }

  /** Starts one move, or says why not: balanced (or not rebalanced at all), or busy now. */
  #begin(id: string, nowMs: number): "moving" | "balanced" | "busy" {
    const found = this.view((tx) => {
      const s = tx.get("services", id);
      if (s === undefined || !eligibleService(s)) return undefined;
      const key = placementKey(s.id, s.specVersion);
      const nodes = tx
        .find("nodes")
        .filter((n) => isSchedulable(n) && this.#placements.fits(key, s.spec.taskTemplate, n));
      return { service: s, tasks: tx.find("tasks", by.serviceId(id)), nodes };
    });
    if (found === undefined) return "balanced";
    if (busy(found.service, found.tasks)) return "busy";
    const pick = pickMove(found.tasks, found.nodes);
    if (pick === undefined) return "balanced";
    if (pick === "wait") return "busy";
    const { service } = found;
    const old = pick.task;
    const message = `rebalance: moving slot ${old.slot} from node ${old.nodeId} to ${pick.to}`;
    const wrote = this.write((tx) => {
      // Pinned to the emptiest eligible node: the scheduler checks it has room (or explains
      // why not) but does not choose another; a move that goes elsewhere would not help.
      const next = newTask(service, {
        id: this.newId(tx),
        slot: old.slot,
        nodeId: pick.to,
        nowMs,
        message,
      });
      tx.create("tasks", next);
      const fromCount = pick.counts.get(old.nodeId)!;
      this.#moves.set(id, { taskId: next.id, oldId: old.id, fromCount, counts: pick.counts });
    });
    return wrote ? "moving" : "busy";
  }

  #follow(id: string, nowMs: number): void {
    const m = this.#moves.get(id)!;
    const [t, old] = this.view((tx) => [tx.get("tasks", m.taskId), tx.get("tasks", m.oldId)]);
    const unplaceable =
      t?.status.state === TaskState.PENDING && /^(no suitable|invalid)/.test(t.status.message);
    if (t === undefined || failedOnItsOwn(t) || !isRunnable(t) || unplaceable) {
      this.#moves.delete(id);
      this.#giveUp(id, nowMs);
      if (t !== undefined && isRunnable(t)) this.#stop(t, nowMs);
      return;
    }
    if (t.status.state !== TaskState.RUNNING) return;
    this.#moves.delete(id);
    if (old !== undefined && isRunnable(old)) this.#stop(old, nowMs);
    const landed = m.counts.get(t.nodeId) ?? 0;
    if (landed >= m.fromCount - 1) this.#giveUp(id, nowMs); // it did not help: stop here
    const delay = this.view((tx) => tx.get("services", id)?.spec.updateConfig.delayMs ?? 0);
    this.#nextAt.set(id, nowMs + delay);
  }

  /** Stops rebalancing the service until a node change, or rebalanceRetryMs from now. */
  #giveUp(id: string, nowMs: number): void {
    this.#armed.delete(id);
    this.#retries.set(id, nowMs + limits.rebalanceRetryMs);
  }

  #stop(t: Task, nowMs: number): void {
    this.write((tx) => {
      const cur = tx.get("tasks", t.id);
      if (cur !== undefined && isRunnable(cur)) setDesired(tx, cur, TaskState.SHUTDOWN, nowMs);
    });
  }
}

function eligibleService(s: Service): boolean {
  return (
    modeOf(s) === "replicated" &&
    serviceOptions(s).rebalance &&
    s.spec.taskTemplate.placement.preferences.length === 0
  );
}

/** An update is running, or some slot has more than one task that should run. */
function busy(s: Service, tasks: readonly Task[]): boolean {
  const st = s.updateStatus;
  if (
    st?.specVersion === s.specVersion &&
    (st.state === "updating" || st.state === "rollback_started")
  )
    return true;
  if (outdatedSlots(tasks, s).length > 0) return true;
  const seen = new Set<number>();
  for (const t of tasks.filter(isRunnable)) {
    if (seen.has(t.slot)) return true;
    seen.add(t.slot);
  }
  return false;
}
