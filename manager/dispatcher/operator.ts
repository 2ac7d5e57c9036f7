// Operator topics: what `mosquitto_sub` shows an operator. JSON, never CBOR.
//
//   …/events/node|task|service|leader   QoS 0, not retained: one object per change
//   …/state/nodes/<id>, …/state/services/<id>   retained mirror; an empty retained payload
//                                       clears it when the object is removed
//
// Everything here derives from store watch events (plus the leader's own start), so it shows
// what was committed, in commit order. Service mirrors carry task counts and are coalesced
// (limits.serviceStateCoalesceMs): a busy service is republished at most that often.

import { limits } from "../../core/limits.ts";
import { TaskState, type TaskStateValue, taskStateName } from "../../core/model/task-state.ts";
import type { Node, Service, Task } from "../../core/model/types.ts";
import { by, type Store, type StoreEvent } from "../../core/store/index.ts";
import type { EventKind, Topics } from "../../core/topics.ts";
import type { Bus } from "./bus.ts";
import type { Clock, Timer } from "./clock.ts";
import type { Logger } from "./log.ts";

export interface OperatorDeps {
  bus: Bus;
  topics: Topics;
  clock: Clock;
  store: Store;
  log: Logger;
}

const state = (s: TaskStateValue) => taskStateName(s);

export function nodeView(n: Node): Record<string, unknown> {
  return {
    id: n.id,
    hostname: n.description.hostname,
    role: n.spec.role,
    availability: n.spec.availability,
    state: n.status.state,
    message: n.status.message,
    addr: n.status.addr,
    lastSeen: n.status.lastSeen,
    platform: n.description.platform,
    resources: n.description.resources,
    engineLabels: n.description.engineLabels,
    labels: n.spec.labels,
    version: n.version,
    updatedAt: n.updatedAt,
  };
}

export function serviceView(s: Service, tasks: readonly Task[]): Record<string, unknown> {
  const current = tasks.filter((t) => t.desiredState <= TaskState.RUNNING);
  return {
    id: s.id,
    name: s.spec.name,
    mode: Object.keys(s.spec.mode)[0],
    image: s.spec.taskTemplate.containerSpec.image,
    specVersion: s.specVersion,
    version: s.version,
    updatedAt: s.updatedAt,
    updateStatus: s.updateStatus,
    tasks: {
      desired: current.length,
      running: current.filter((t) => t.status.state === TaskState.RUNNING).length,
    },
  };
}

export class OperatorTopics {
  readonly #deps: OperatorDeps;
  readonly #dirtyServices = new Set<string>();
  #timer: Timer | undefined;
  published = 0;

  constructor(deps: OperatorDeps) {
    this.#deps = deps;
  }

  /** This manager's dispatcher took over ("elected") or gave up ("stepped-down"). */
  leader(action: "elected" | "stepped-down", managerId: string, since: number): void {
    this.#event("leader", { action, managerId, since });
  }

  /** Publishes the retained mirror of one node (at leader start). */
  nodeState(n: Node): void {
    this.#retain(this.#deps.topics.nodeState(n.id), nodeView(n));
  }

  /** Publishes the retained mirror of one service (at leader start). */
  serviceState(id: string): void {
    const { store, topics } = this.#deps;
    const view = store.view((tx) => {
      const s = tx.get("services", id);
      return s && serviceView(s, tx.find("tasks", by.serviceId(id)));
    });
    if (view) this.#retain(topics.serviceState(id), view);
  }

  /** Reacts to one committed store change. */
  onStoreEvent(e: StoreEvent): void {
    if (e.kind === "commit") return;
    if (e.table === "nodes") this.#onNode(e);
    else if (e.table === "tasks") this.#onTask(e);
    else if (e.table === "services") this.#onService(e);
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#dirtyServices.clear();
  }

  #onNode(e: Exclude<StoreEvent, { kind: "commit" }>): void {
    const n = e.object as Node;
    const { topics } = this.#deps;
    if (e.kind === "delete") {
      this.#clear(topics.nodeState(n.id));
      this.#event("node", { action: "removed", nodeId: n.id, hostname: n.description.hostname });
      return;
    }
    this.nodeState(n);
    const old = e.kind === "update" ? (e.old as Node) : undefined;
    if (old && old.status.state === n.status.state) return;
    const action = e.kind === "create" ? "registered" : n.status.state === "ready" ? "up" : "down";
    this.#event("node", {
      action,
      nodeId: n.id,
      hostname: n.description.hostname,
      state: n.status.state,
      previous: old?.status.state,
      message: n.status.message,
      version: e.version,
    });
  }

  #onTask(e: Exclude<StoreEvent, { kind: "commit" }>): void {
    const t = e.object as Task;
    const old = e.kind === "update" ? (e.old as Task) : undefined;
    const counted =
      !old || old.desiredState !== t.desiredState || old.status.state !== t.status.state;
    if (counted) this.#serviceChanged(t.serviceId);
    if (e.kind === "delete" || old?.status.state === t.status.state) return;
    this.#event("task", {
      action: "state",
      taskId: t.id,
      serviceId: t.serviceId,
      nodeId: t.nodeId,
      slot: t.slot,
      state: state(t.status.state),
      previous: old && state(old.status.state),
      desiredState: state(t.desiredState),
      message: t.status.message,
      err: t.status.err,
      exitCode: t.status.exitCode,
      timestamp: t.status.timestamp,
      version: e.version,
    });
  }

  #onService(e: Exclude<StoreEvent, { kind: "commit" }>): void {
    const s = e.object as Service;
    const action = e.kind === "create" ? "created" : e.kind === "update" ? "updated" : "removed";
    this.#event("service", {
      action,
      serviceId: s.id,
      name: s.spec.name,
      specVersion: s.specVersion,
      version: e.version,
    });
    if (e.kind === "delete") {
      this.#dirtyServices.delete(s.id);
      this.#clear(this.#deps.topics.serviceState(s.id));
    } else {
      this.serviceState(s.id);
    }
  }

  #serviceChanged(id: string): void {
    this.#dirtyServices.add(id);
    this.#timer ??= this.#deps.clock.setTimer(limits.serviceStateCoalesceMs, () => {
      this.#timer = undefined;
      const ids = [...this.#dirtyServices];
      this.#dirtyServices.clear();
      for (const sid of ids) this.serviceState(sid);
    });
  }

  #event(kind: EventKind, body: Record<string, unknown>): void {
    const payload = JSON.stringify({ kind, at: this.#deps.clock.now(), ...body });
    this.#send(this.#deps.topics.event(kind), payload, false);
  }

  #retain(topic: string, view: Record<string, unknown>): void {
    this.#send(topic, JSON.stringify(view), true);
  }

  #clear(topic: string): void {
    this.#send(topic, "", true);
  }

  #send(topic: string, payload: string, retain: boolean): void {
    this.published++;
    this.#deps.bus.publish(topic, payload, { qos: 0, retain }).catch((err) => {
      this.#deps.log.warn("operator topic publish failed", { topic, err: String(err) });
    });
  }
}
