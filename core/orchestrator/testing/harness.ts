// A deterministic world for orchestrator tests: one store, every control loop, simulated agents
// and a fake clock. The harness plays the API (creating and updating services) and the
// dispatcher (marking nodes ready or down); `tick()` advances time, lets the agents report and
// steps the loops until the store settles. One seed replays the whole run.

import { makeCluster, makeNode, makeService, makeServiceSpec } from "../../model/fixtures.ts";
import { TaskState } from "../../model/task-state.ts";
import type { Node, NodeState, Service, ServiceSpec, Task } from "../../model/types.ts";
import { createRng, type Rng } from "../../rand.ts";
import { by } from "../../store/indexes.ts";
import { Store } from "../../store/store.ts";
import type { ControlLoop } from "../loop.ts";
import { Orchestrator } from "../orchestrator.ts";
import { holdsSlot, isRunnable } from "../tasks.ts";
import { type AgentFaults, SimAgents } from "./agents.ts";

export interface HarnessOptions {
  seed: number;
  nodes?: number | Node[];
  faults?: AgentFaults;
  /** Build only these loops (unit tests of one loop); default: all of them. */
  loops?: (store: Store, seed: number) => ControlLoop[];
  /** Milliseconds per tick. */
  tickMs?: number;
  taskHistoryLimit?: number;
}

export class Harness {
  readonly store = new Store();
  readonly rng: Rng;
  readonly agents: SimAgents;
  orchestrator: Orchestrator;
  #failovers = 0;
  readonly tickMs: number;
  nowMs = 1_000_000;
  /** When false, tick() does not run the agents (a test moves tasks by hand). */
  agentsOn = true;

  constructor(readonly options: HarnessOptions) {
    this.rng = createRng(options.seed);
    this.tickMs = options.tickMs ?? 100;
    const nodes =
      typeof options.nodes === "number" || options.nodes === undefined
        ? Array.from({ length: options.nodes ?? 3 }, (_, i) => makeNode(`n${i + 1}`))
        : options.nodes;
    this.store.update((tx) => {
      const cluster = makeCluster();
      const limit = options.taskHistoryLimit ?? cluster.spec.taskHistoryLimit;
      tx.create("clusters", { ...cluster, spec: { ...cluster.spec, taskHistoryLimit: limit } });
      for (const n of nodes) tx.create("nodes", n);
    });
    this.agents = new SimAgents(this.store, createRng(options.seed + 1), options.faults ?? {});
    const loops = options.loops?.(this.store, options.seed);
    this.orchestrator = new Orchestrator(this.store, { seed: options.seed }, loops);
  }

  /** One tick: time passes, agents report, the loops settle. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      this.nowMs += this.tickMs;
      if (this.agentsOn) this.agents.step(this.nowMs);
      this.orchestrator.step(this.nowMs);
    }
  }

  /**
   * A leader change: the loops (and everything they kept in memory) are dropped, and a new
   * set starts from the store alone, as on a newly elected manager.
   */
  failover(): void {
    this.orchestrator.close();
    const seed = this.options.seed + 1000 * ++this.#failovers;
    const loops = this.options.loops?.(this.store, seed);
    this.orchestrator = new Orchestrator(this.store, { seed }, loops);
    this.settle();
  }

  /** Lets the loops settle without moving time. */
  settle(): void {
    this.orchestrator.step(this.nowMs);
  }

  runFor(ms: number): void {
    this.tick(Math.ceil(ms / this.tickMs));
  }

  /** Ticks until `ok()` holds; throws (with the seed) after `maxMs`. */
  runUntil(ok: () => boolean, maxMs: number, what = "condition"): void {
    for (let waited = 0; !ok(); waited += this.tickMs) {
      if (waited > maxMs) {
        throw new Error(`${what} not reached within ${maxMs} ms (seed ${this.options.seed})`);
      }
      this.tick();
    }
  }

  // ---- the API's part --------------------------------------------------------------------

  createService(id: string, spec: Partial<ServiceSpec> = {}): Service {
    const svc = makeService(id, { spec: makeServiceSpec(id, spec), createdAt: this.nowMs });
    this.store.update((tx) => tx.create("services", svc));
    this.settle();
    return this.service(id);
  }

  /** A spec change, as `service update` makes it: previousSpec kept, specVersion bumped. */
  updateService(id: string, change: (spec: ServiceSpec) => ServiceSpec): void {
    this.store.update((tx) => {
      const s = tx.get("services", id)!;
      tx.update("services", {
        ...s,
        spec: change(s.spec),
        previousSpec: s.spec,
        specVersion: s.specVersion + 1,
        updatedAt: this.nowMs,
      });
    });
    this.settle();
  }

  deleteService(id: string): void {
    this.store.update((tx) => tx.delete("services", id));
    this.settle();
  }

  // ---- the dispatcher's and the operator's part ------------------------------------------

  addNode(node: Node): void {
    this.store.update((tx) => tx.create("nodes", node));
    this.settle();
  }

  setNode(id: string, change: (n: Node) => Node): void {
    this.store.update((tx) => tx.update("nodes", change(tx.get("nodes", id)!)));
    this.settle();
  }

  setNodeState(id: string, state: NodeState): void {
    this.setNode(id, (n) => ({ ...n, status: { ...n.status, state } }));
  }

  setAvailability(id: string, availability: Node["spec"]["availability"]): void {
    this.setNode(id, (n) => ({ ...n, spec: { ...n.spec, availability } }));
  }

  setLabels(id: string, labels: Record<string, string>): void {
    this.setNode(id, (n) => ({ ...n, spec: { ...n.spec, labels } }));
  }

  removeNode(id: string): void {
    this.store.update((tx) => tx.delete("nodes", id));
    this.settle();
  }

  // ---- reading ---------------------------------------------------------------------------

  service(id: string): Service {
    return this.store.view((tx) => tx.get("services", id))!;
  }

  node(id: string): Node {
    return this.store.view((tx) => tx.get("nodes", id))!;
  }

  tasks(serviceId: string): Task[] {
    return this.store.view((tx) => tx.find("tasks", by.serviceId(serviceId)));
  }

  /** The tasks the orchestrator wants running. */
  runnable(serviceId: string): Task[] {
    return this.tasks(serviceId).filter(isRunnable);
  }

  /** Runnable tasks whose agent reports RUNNING. */
  running(serviceId: string): Task[] {
    return this.runnable(serviceId).filter((t) => t.status.state === TaskState.RUNNING);
  }

  /** Slot keys holding a task. */
  slots(serviceId: string): Set<number> {
    return new Set(
      this.tasks(serviceId)
        .filter(holdsSlot)
        .map((t) => t.slot),
    );
  }

  /** Running tasks per node id. */
  spread(serviceId: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const t of this.running(serviceId)) out.set(t.nodeId, (out.get(t.nodeId) ?? 0) + 1);
    return out;
  }
}
