// Constraint enforcement: when a node changes (labels, engine labels, platform, role,
// hostname) so that a live replicated or replicated-job task on it no longer satisfies its
// placement, the task is replaced in its slot and the scheduler puts the new one on a node that
// fits. The task's own spec copy is what is checked: it is the spec the task runs. Global tasks
// are global.ts's business. Constraints that do not parse never evict anything.

import type { Node, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { StoreEvent } from "../store/watch.ts";
import { Placements, placementKey } from "./eligibility.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import { isGlobalMode, isLive, modeOf, moveTask } from "./tasks.ts";

export class ConstraintEnforcer extends BaseLoop {
  readonly #nodes = new Set<string>();
  readonly #placements = new Placements();

  constructor(store: Store, options: LoopOptions) {
    super("constraint-enforcer", store, options, {
      tables: ["nodes"],
      kinds: ["create", "update"],
    });
  }

  protected resync(): void {
    for (const n of this.view((tx) => tx.find("nodes"))) this.#nodes.add(n.id);
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "update" && placementChanged(e.old as Node, e.object as Node)) {
      this.#nodes.add(e.object.id);
    }
  }

  protected reconcile(nowMs: number): void {
    const ids = [...this.#nodes].sort();
    this.#nodes.clear();
    for (const id of ids) this.#enforce(id, nowMs);
  }

  #enforce(nodeId: string, nowMs: number): void {
    const misfits = this.view((tx) => {
      const node = tx.get("nodes", nodeId);
      if (node === undefined) return [];
      return tx.find("tasks", by.nodeId(nodeId)).filter((t) => isLive(t) && this.#misfit(t, node));
    });
    misfits.sort((a, b) => (a.id < b.id ? -1 : 1));
    this.writeEach(misfits, (tx, t) => {
      const cur = tx.get("tasks", t.id);
      const service = tx.get("services", t.serviceId);
      if (cur === undefined || !isLive(cur) || service === undefined) return;
      if (isGlobalMode(modeOf(service))) return;
      const message = `moved from node ${nodeId}: it no longer satisfies the placement`;
      moveTask(tx, service, cur, { id: () => this.newId(tx), nowMs, message });
    });
  }

  #misfit(t: Task, node: Node): boolean {
    return this.#placements.fits(placementKey(t.serviceId, t.specVersion), t.spec, node) === false;
  }
}

function placementChanged(a: Node, b: Node): boolean {
  return (
    a.spec.labels !== b.spec.labels ||
    a.spec.role !== b.spec.role ||
    a.description.engineLabels !== b.description.engineLabels ||
    a.description.platform !== b.description.platform ||
    a.description.hostname !== b.description.hostname ||
    a.description.resources !== b.description.resources
  );
}
