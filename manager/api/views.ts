// What the API shows of stored objects. Objects go out as stored (Docker-like camelCase), with a
// few derived fields operators need: task state names, a service's running/desired counts, and
// never the cluster's secrets (the CA key, the join token hashes).

import { gossipKeyRingView } from "../../core/gossip-keys.ts";
import { TaskState, taskStateName } from "../../core/model/task-state.ts";
import type { Cluster, Node, Service, Task } from "../../core/model/types.ts";
import { by } from "../../core/store/indexes.ts";
import type { ReadTx } from "../../core/store/tx.ts";
import type { StoreEvent } from "../../core/store/watch.ts";

export interface ServiceStatus {
  runningTasks: number;
  desiredTasks: number;
  completedTasks?: number;
}

export type TaskView = Task & { stateName: string; desiredStateName: string };
export type ServiceView = Service & { serviceStatus: ServiceStatus };

export function taskView(t: Task): TaskView {
  return {
    ...t,
    stateName: taskStateName(t.status.state).toLowerCase(),
    desiredStateName: taskStateName(t.desiredState).toLowerCase(),
  };
}

/** Counts as `docker service ls` does: running tasks on nodes that are not down vs desired. */
export function serviceStatus(tx: ReadTx, s: Service): ServiceStatus {
  const tasks = tx.find("tasks", by.serviceId(s.id));
  const runnable = tasks.filter((t) => t.desiredState <= TaskState.RUNNING);
  const running = runnable.filter((t) => {
    if (t.status.state !== TaskState.RUNNING) return false;
    return tx.get("nodes", t.nodeId)?.status.state !== "down";
  }).length;
  const mode = s.spec.mode;
  if ("replicated" in mode)
    return { runningTasks: running, desiredTasks: mode.replicated.replicas };
  if ("replicatedJob" in mode) {
    const done = tasks.filter((t) => t.status.state === TaskState.COMPLETE).length;
    const { maxConcurrent, totalCompletions } = mode.replicatedJob;
    const desired = Math.max(0, Math.min(maxConcurrent, totalCompletions - done));
    return { runningTasks: running, desiredTasks: desired, completedTasks: done };
  }
  if ("globalJob" in mode) {
    const done = tasks.filter((t) => t.status.state === TaskState.COMPLETE).length;
    return { runningTasks: running, desiredTasks: runnable.length, completedTasks: done };
  }
  return { runningTasks: running, desiredTasks: runnable.length };
}

export function serviceView(tx: ReadTx, s: Service): ServiceView {
  return { ...s, serviceStatus: serviceStatus(tx, s) };
}

export function modeName(s: Service): string {
  const m = s.spec.mode;
  if ("replicated" in m) return "replicated";
  if ("global" in m) return "global";
  if ("replicatedJob" in m) return "replicated-job";
  return "global-job";
}

/** The cluster without its secrets: the CA's private key and the join token hashes stay in. */
export function clusterView(c: Cluster): Omit<
  Cluster,
  "rootCA" | "joinTokens" | "joinTokenStrings" | "joinedKeys" | "gossipKeys"
> & {
  rootCA?: { certPem: string; digest: string; keyEncrypted: boolean };
  gossipKeys?: ReturnType<typeof gossipKeyRingView>;
} {
  // Never the CA key, the tokens or their hashes (`fleet join-token` shows tokens on request),
  // nor the gossip keys' bytes (their ids and dates only).
  const {
    rootCA,
    joinTokens: _hashes,
    joinTokenStrings: _tokens,
    joinedKeys: _keys,
    gossipKeys,
    ...base
  } = c;
  const rest = gossipKeys ? { ...base, gossipKeys: gossipKeyRingView(gossipKeys) } : base;
  if (!rootCA) return rest;
  const { certPem, digest, keyEncrypted } = rootCA;
  return { ...rest, rootCA: { certPem, digest, keyEncrypted } };
}

export interface FleetEvent {
  type: "node" | "service" | "task" | "cluster";
  action: "create" | "update" | "remove";
  id: string;
  /** The store index that made the change (resume with `since=<version>`). */
  version: number;
  time: number;
  attributes: Record<string, string | number>;
}

const TYPE = { nodes: "node", services: "service", tasks: "task", clusters: "cluster" } as const;

/** One store change as an operator event; commit markers give undefined. */
export function eventView(e: StoreEvent, time: number): FleetEvent | undefined {
  if (e.kind === "commit") return undefined;
  const action = e.kind === "delete" ? "remove" : e.kind;
  const type = TYPE[e.table];
  return { type, action, id: e.object.id, version: e.version, time, attributes: attributes(e) };
}

function attributes(e: Exclude<StoreEvent, { kind: "commit" }>): FleetEvent["attributes"] {
  const o = e.object;
  switch (e.table) {
    case "nodes": {
      const n = o as Node;
      return {
        hostname: n.description.hostname,
        role: n.spec.role,
        availability: n.spec.availability,
        state: n.status.state,
      };
    }
    case "services":
      return { name: (o as Service).spec.name, specVersion: (o as Service).specVersion };
    case "tasks": {
      const t = o as Task;
      const out: FleetEvent["attributes"] = {
        serviceId: t.serviceId,
        slot: t.slot,
        state: taskStateName(t.status.state).toLowerCase(),
        desiredState: taskStateName(t.desiredState).toLowerCase(),
      };
      if (t.nodeId) out.nodeId = t.nodeId;
      if (t.status.message) out.message = t.status.message;
      if (t.status.err) out.err = t.status.err;
      return out;
    }
    default:
      return { name: (o as Cluster).spec.name };
  }
}
