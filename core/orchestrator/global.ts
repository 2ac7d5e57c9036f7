// Global services and global jobs: one task per eligible node. A node is eligible when it
// satisfies the service's constraints and platforms; it gets a new task only while it is ready
// and active. It follows node joins, removals, label, platform and availability changes:
//   - a node that joins, comes back or becomes active gets a task;
//   - a drained node, or one that no longer satisfies the placement, has its task shut down;
//   - a removed node's task is marked REMOVE;
//   - a down or paused node keeps its task: global tasks are never moved.
// A global job runs once per node per spec version; a new spec version is a new run.

import { TaskState } from "../model/task-state.ts";
import type { Node, Service, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { WriteTx } from "../store/tx.ts";
import type { StoreEvent } from "../store/watch.ts";
import { Placements, placementKey } from "./eligibility.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import {
  holdsSlot,
  isGlobalMode,
  isRunnable,
  isSchedulable,
  modeOf,
  newTask,
  setDesired,
} from "./tasks.ts";

export class GlobalLoop extends BaseLoop {
  readonly #services = new Set<string>();
  readonly #nodes = new Set<string>();
  readonly #placements = new Placements();

  constructor(store: Store, options: LoopOptions) {
    super("global", store, options, { tables: ["services", "nodes", "tasks"] });
  }

  protected resync(): void {
    for (const s of this.view((tx) => tx.find("services"))) this.#services.add(s.id);
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "commit") return;
    if (e.table === "services" && e.kind !== "delete") this.#services.add(e.object.id);
    if (e.table === "nodes") this.#nodes.add(e.object.id);
    if (e.table !== "tasks") return;
    const t = e.object as Task;
    if (t.slot === 0 && (e.kind === "delete" || !holdsSlot(t))) this.#services.add(t.serviceId);
  }

  protected reconcile(nowMs: number): void {
    if (this.#services.size === 0 && this.#nodes.size === 0) return;
    const { services, nodes } = this.view((tx) => ({
      services: tx.find("services").filter((s) => isGlobalMode(modeOf(s))),
      nodes: tx.find("nodes"),
    }));
    services.sort((a, b) => (a.id < b.id ? -1 : 1));
    nodes.sort((a, b) => (a.id < b.id ? -1 : 1));
    const dirtyNodes = nodes.filter((n) => this.#nodes.has(n.id));
    const gone = [...this.#nodes].filter((id) => !nodes.some((n) => n.id === id)).sort();
    for (const s of services) {
      const targets = this.#services.has(s.id) ? nodes : dirtyNodes;
      this.writeEach(targets, (tx, node) => this.#reconcilePair(tx, s, node, nowMs));
      this.writeEach(gone, (tx, nodeId) => removeFromNode(tx, s.id, nodeId, nowMs));
    }
    this.#services.clear();
    this.#nodes.clear();
  }

  #reconcilePair(tx: WriteTx, s: Service, node: Node, nowMs: number): void {
    const tasks = tx.find("tasks", by.globalSlot(s.id, node.id));
    const fits = this.#placements.fits(
      placementKey(s.id, s.specVersion),
      s.spec.taskTemplate,
      node,
    );
    const keep = fits === true && node.spec.availability !== "drain";
    const job = modeOf(s) === "globalJob";
    for (const t of tasks) {
      const oldRun = job && t.specVersion !== s.specVersion;
      if (isRunnable(t) && (!keep || oldRun)) setDesired(tx, t, TaskState.SHUTDOWN, nowMs);
    }
    if (!keep || !isSchedulable(node)) return;
    // A task holds the node while it holds its slot (live, or finished and not to be
    // restarted); a job's must also be of the current run. One shut down because the node
    // was drained or misfit holds nothing: the node runs it again when eligible.
    const held = tasks.some((t) => holdsSlot(t) && (!job || t.specVersion === s.specVersion));
    if (held) return;
    tx.create("tasks", newTask(s, { id: this.newId(tx), slot: 0, nodeId: node.id, nowMs }));
  }
}

function removeFromNode(tx: WriteTx, serviceId: string, nodeId: string, nowMs: number): void {
  for (const t of tx.find("tasks", by.globalSlot(serviceId, nodeId))) {
    if (t.desiredState < TaskState.REMOVE) setDesired(tx, t, TaskState.REMOVE, nowMs);
  }
}
