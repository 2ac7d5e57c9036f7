// Assignments: the full set of a node's tasks, with a version, published retained (QoS 1) on the
// node's assign topic. Republished whenever the set changes (bursts coalesced for
// limits.assignmentCoalesceMs) and on every hello.
//
// What a node is given: every task placed on it (status ASSIGNED or later) whose desired state
// is below REMOVE, including the ones it must stop (desired SHUTDOWN) and finished ones (their
// containers are kept until the task is removed). A task leaving the set tells the agent to
// remove its container. Every assignment also carries the managers' broker addresses, from
// which agents keep their failover list current, and the cluster's heartbeat period.
//
// The version never goes backwards, across leader changes too: it is a store (Raft) index.
// A node's version is the index of the last commit that changed its set; a node untouched
// since this leader started gets the index the store had applied at start, which is at least
// every index an earlier leader can have published (the leader starts the dispatcher only
// after applying its own first entry of the term, which follows everything committed before).

import { type AssignedTask, encodeMessage, type MessageBodies } from "../../core/codec/index.ts";
import { gossipKeyRingProblem, wireGossipKeys } from "../../core/gossip-keys.ts";
import { limits } from "../../core/limits.ts";
import { clusterGossip, clusterReenrolWindowMs } from "../../core/model/defaults.ts";
import { TaskState } from "../../core/model/task-state.ts";
import type { Task } from "../../core/model/types.ts";
import { by, type ReadTx, type Store } from "../../core/store/index.ts";
import type { Topics } from "../../core/topics.ts";
import type { Bus } from "./bus.ts";
import type { Clock, Timer } from "./clock.ts";
import type { Logger } from "./log.ts";

/** Whether a task belongs in its node's assignment. */
export function inAssignment(t: Task): boolean {
  return (
    t.nodeId !== "" && t.status.state >= TaskState.ASSIGNED && t.desiredState < TaskState.REMOVE
  );
}

/** Whether two versions of one task look the same to the agent (status aside). */
function sameEntry(a: Task, b: Task): boolean {
  return (
    a.nodeId === b.nodeId &&
    a.serviceId === b.serviceId &&
    a.slot === b.slot &&
    a.specVersion === b.specVersion &&
    a.desiredState === b.desiredState &&
    (a.spec === b.spec || JSON.stringify(a.spec) === JSON.stringify(b.spec))
  );
}

/** The nodes whose assignment a task write changes (none for an agent's status report). */
export function nodesChangedBy(old: Task | undefined, next: Task | undefined): string[] {
  const was = old !== undefined && inAssignment(old);
  const is = next !== undefined && inAssignment(next);
  if (!was && !is) return [];
  if (was && is && sameEntry(old!, next!)) return [];
  const out: string[] = [];
  if (was) out.push(old!.nodeId);
  if (is && !(was && old!.nodeId === next!.nodeId)) out.push(next!.nodeId);
  return out;
}

export function assignedTask(t: Task, serviceName: string): AssignedTask {
  return {
    id: t.id,
    serviceId: t.serviceId,
    serviceName,
    slot: t.slot,
    specVersion: t.specVersion,
    desiredState: t.desiredState,
    spec: t.spec,
  };
}

/** The node's assignment as the store has it now, sorted by task id. */
export function buildAssignment(
  tx: ReadTx,
  nodeId: string,
  version: number,
): MessageBodies["assign"] {
  const tasks = tx
    .find("tasks", by.nodeId(nodeId))
    .filter(inAssignment)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((t) => assignedTask(t, tx.get("services", t.serviceId)?.spec.name ?? ""));
  const body: MessageBodies["assign"] = { version, tasks };
  const brokers = brokerAddrs(tx);
  if (brokers.length > 0) body.brokers = brokers;
  const cluster = tx.find("clusters")[0];
  const period = cluster?.spec.heartbeatPeriodMs;
  if (period !== undefined) body.heartbeatPeriodMs = period;
  // The re-enrolment window: the agent keeps it to know when to stop waiting and join again.
  if (cluster) body.reenrolWindowMs = clusterReenrolWindowMs(cluster.spec);
  // The gossip key ring: each agent gets it over its own mTLS downlink (core/gossip-keys.ts).
  const ring = cluster?.gossipKeys;
  if (ring && gossipKeyRingProblem(ring) === undefined) body.gossip = wireGossipKeys(ring);
  // The gossip switch; the ring goes with it even when off, so "on" again works at once.
  if (cluster) body.gossipEnabled = clusterGossip(cluster.spec);
  return body;
}

/** Every manager's broker address (host:port), sorted: agents learn their failover list from
 * it. A manager joining or leaving reaches an agent with its next assignment (or hello). */
export function brokerAddrs(tx: ReadTx): string[] {
  const out = new Set<string>();
  for (const n of tx.find("nodes")) {
    const addr = n.managerStatus?.brokerAddr;
    if (n.spec.role === "manager" && addr && addr.length <= 261) out.add(addr);
  }
  return [...out].sort().slice(0, 64);
}

export interface AssignmentDeps {
  bus: Bus;
  topics: Topics;
  clock: Clock;
  store: Store;
  log: Logger;
  /** The store index applied when this leader started. */
  baseVersion: number;
}

export class AssignmentPublisher {
  readonly #deps: AssignmentDeps;
  readonly #versions = new Map<string, number>();
  readonly #dirty = new Set<string>();
  #timer: Timer | undefined;
  published = 0;
  failed = 0;

  constructor(deps: AssignmentDeps) {
    this.#deps = deps;
  }

  version(nodeId: string): number {
    return this.#versions.get(nodeId) ?? this.#deps.baseVersion;
  }

  /** A commit at `version` changed the node's set; it is published after a short pause. */
  changed(nodeId: string, version: number): void {
    if (version > this.version(nodeId)) this.#versions.set(nodeId, version);
    this.#dirty.add(nodeId);
    this.#timer ??= this.#deps.clock.setTimer(limits.assignmentCoalesceMs, () => this.flush());
  }

  /** Publishes pending changes now, at most `max` nodes; the rest follow on a zero timer, so a
   * burst of thousands of nodes does not hold the event loop (heartbeats wait behind it). */
  flush(max: number = limits.leaderStartPublishChunk): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const nodes: string[] = [];
    for (const id of this.#dirty) {
      if (nodes.length >= max) break;
      nodes.push(id);
    }
    for (const id of nodes) this.#dirty.delete(id);
    for (const id of nodes) this.publish(id);
    if (this.#dirty.size > 0) this.#timer = this.#deps.clock.setTimer(0, () => this.flush());
  }

  /** Publishes the node's current assignment now (on hello, at leader start). */
  publish(nodeId: string): void {
    const { store, topics, bus, log } = this.#deps;
    const body = store.view((tx) => buildAssignment(tx, nodeId, this.version(nodeId)));
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage("assign", body);
    } catch (err) {
      this.failed++;
      log.error("assignment not published: it cannot be encoded (too many tasks?)", {
        nodeId,
        tasks: body.tasks.length,
        err: String(err),
      });
      return;
    }
    this.published++;
    bus.publish(topics.assign(nodeId), bytes, { qos: 1, retain: true }).catch((err) => {
      this.failed++;
      log.warn("assignment publish failed", { nodeId, err: String(err) });
    });
  }

  /** The node was removed: clear its retained assignment, and its retained gossip status
   * (agents drop the peer when they see the clear). */
  remove(nodeId: string): void {
    this.#versions.delete(nodeId);
    this.#dirty.delete(nodeId);
    const { bus, topics, log } = this.#deps;
    for (const topic of [topics.assign(nodeId), topics.gossip(nodeId)])
      bus
        .publish(topic, new Uint8Array(0), { qos: 1, retain: true })
        .catch((err) => log.warn("retained clear failed", { topic, err: String(err) }));
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#dirty.clear();
  }
}
