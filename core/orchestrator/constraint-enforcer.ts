// Constraint enforcement: when a node changes (labels, engine labels, platform, role,
// hostname, resources) so that a live replicated or replicated-job task on it no longer
// satisfies its placement, or the node's resources no longer cover the reservations of its
// tasks, the task is replaced in its slot and the scheduler puts the new one on a node that
// fits. The task's own spec copy is what is checked: it is the spec the task runs. Global
// tasks are global.ts's business. Constraints that do not parse never evict anything.

import type { Node, Service, Task } from "../model/types.ts";
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
    const found = this.view((tx) => {
      const node = tx.get("nodes", nodeId);
      if (node === undefined) return undefined;
      const live = tx.find("tasks", by.nodeId(nodeId)).filter(isLive);
      const global = new Set(
        live.filter((t) => isGlobal(tx.get("services", t.serviceId))).map((t) => t.id),
      );
      return { node, live, global };
    });
    if (found === undefined) return;
    const { node, live, global } = found;
    const misfits = live.filter((t) => !global.has(t.id) && this.#misfit(t, node));
    const staying = live.filter((t) => !misfits.includes(t));
    const over = overbooked(staying, node, global);
    const why = new Map<string, string>([
      ...misfits.map((t) => [t.id, "it no longer satisfies the placement"] as const),
      ...over.map((t) => [t.id, "its resources no longer cover the reservations"] as const),
    ]);
    const ids = [...why.keys()].sort();
    this.writeEach(ids, (tx, id) => {
      const cur = tx.get("tasks", id);
      const service = tx.get("services", cur?.serviceId ?? "");
      if (cur === undefined || !isLive(cur) || service === undefined) return;
      const message = `moved from node ${nodeId}: ${why.get(id)}`;
      moveTask(tx, service, cur, { id: () => this.newId(tx), nowMs, message });
    });
  }

  #misfit(t: Task, node: Node): boolean {
    return this.#placements.fits(placementKey(t.serviceId, t.specVersion), t.spec, node) === false;
  }
}

function isGlobal(s: Service | undefined): boolean {
  return s !== undefined && isGlobalMode(modeOf(s));
}

/**
 * The tasks to move when a node's resources shrank below the reservations of its tasks:
 * global tasks (never moved) and then the oldest keep their place; the newest that no longer
 * fit go (pure).
 */
export function overbooked(live: readonly Task[], node: Node, pinned: ReadonlySet<string>) {
  const order = [...live].sort(
    (a, b) =>
      Number(pinned.has(b.id)) - Number(pinned.has(a.id)) ||
      a.createdAt - b.createdAt ||
      (a.id < b.id ? -1 : 1),
  );
  let memory = node.description.resources.memoryBytes;
  let cpu = node.description.resources.nanoCPUs;
  const out: Task[] = [];
  for (const t of order) {
    const r = t.spec.resources.reservations;
    const m = r?.memoryBytes ?? 0;
    const c = r?.nanoCPUs ?? 0;
    if ((m <= memory && c <= cpu) || pinned.has(t.id)) {
      memory -= m;
      cpu -= c;
    } else out.push(t);
  }
  return out;
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
