// Replicated services: keeps slots 1..N filled, one slot-holding task each. It only counts
// slots; what runs in a slot (restarts, updates, moves) is other loops' business. Scale up
// opens the lowest free slot numbers; scale down removes slots that are not running first,
// then slots on the nodes that run the most tasks of the service, so what stays is spread.
// It must never touch a slot it keeps.

import { TaskState } from "../model/task-state.ts";
import type { Service, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { StoreEvent } from "../store/watch.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import { holdsSlot, modeOf, newTask, setDesired, slotsOf } from "./tasks.ts";

export class ReplicatedLoop extends BaseLoop {
  readonly #dirty = new Set<string>();

  constructor(store: Store, options: LoopOptions) {
    super("replicated", store, options, { tables: ["services", "tasks"] });
  }

  protected resync(): void {
    for (const s of this.view((tx) => tx.find("services"))) this.#dirty.add(s.id);
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "commit") return;
    if (e.table === "services" && e.kind !== "delete") this.#dirty.add(e.object.id);
    if (e.table !== "tasks") return;
    const t = e.object as Task;
    // A slot empties when its last holder stops holding it (or is deleted).
    if (e.kind === "delete" || (e.kind === "update" && !holdsSlot(t))) this.#dirty.add(t.serviceId);
  }

  protected reconcile(nowMs: number): void {
    const ids = [...this.#dirty].sort();
    this.#dirty.clear();
    for (const id of ids) this.#reconcileService(id, nowMs);
  }

  #reconcileService(id: string, nowMs: number): void {
    const found = this.view((tx) => {
      const s = tx.get("services", id);
      return s && { service: s, tasks: tx.find("tasks", by.serviceId(id)) };
    });
    if (found === undefined || modeOf(found.service) !== "replicated") return;
    const { service, tasks } = found;
    const want = "replicated" in service.spec.mode ? service.spec.mode.replicated.replicas : 0;
    const slots = new Map([...slotsOf(tasks)].map(([k, ts]) => [Number(k), ts] as const));
    if (slots.size < want) this.#scaleUp(service, slots, want - slots.size, nowMs);
    else if (slots.size > want) this.#scaleDown(slots, slots.size - want, nowMs);
  }

  #scaleUp(service: Service, slots: Map<number, Task[]>, count: number, nowMs: number): void {
    const free: number[] = [];
    for (let n = 1; free.length < count; n++) if (!slots.has(n)) free.push(n);
    this.writeEach(free, (tx, slot) => {
      tx.create("tasks", newTask(service, { id: this.newId(tx), slot, nodeId: "", nowMs }));
    });
  }

  #scaleDown(slots: Map<number, Task[]>, count: number, nowMs: number): void {
    const victims = pickVictims(slots, count);
    this.writeEach(victims, (tx, slot) => {
      for (const t of slots.get(slot)!) {
        const cur = tx.get("tasks", t.id);
        if (cur !== undefined && holdsSlot(cur)) setDesired(tx, cur, TaskState.REMOVE, nowMs);
      }
    });
  }
}

/**
 * The slots to remove: first those with nothing running (no loss of service), then, one at a
 * time, a slot from the node that currently runs the most of the service's remaining slots
 * (ties: the higher slot number, so slot numbers stay low). Pure, exported for tests.
 */
export function pickVictims(slots: ReadonlyMap<number, readonly Task[]>, count: number): number[] {
  const idle: number[] = [];
  const byNode = new Map<string, number[]>();
  for (const [slot, ts] of slots) {
    const running = ts.find((t) => t.status.state === TaskState.RUNNING && t.nodeId !== "");
    if (running === undefined) idle.push(slot);
    else byNode.set(running.nodeId, [...(byNode.get(running.nodeId) ?? []), slot]);
  }
  idle.sort((a, b) => b - a);
  const out = idle.slice(0, count);
  for (const list of byNode.values()) list.sort((a, b) => a - b);
  while (out.length < count) {
    let best: string | undefined;
    for (const [node, list] of byNode) {
      if (list.length === 0) continue;
      const b = best === undefined ? undefined : byNode.get(best)!;
      if (
        b === undefined ||
        list.length > b.length ||
        (list.length === b.length && list[list.length - 1]! > b[b.length - 1]!)
      )
        best = node;
    }
    if (best === undefined) break;
    out.push(byNode.get(best)!.pop()!);
  }
  return out;
}
