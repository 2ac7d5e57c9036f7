// Batching of the dispatcher's store writes: task status reported by agents, and node state
// (registration, ready <-> down). Writes go out when limits.statusBatchItemsMax updates are
// queued or limits.statusBatchIntervalMs after the oldest one arrived, one store write (one
// Raft entry) per batch, one batch in flight at a time.
//
// Every update is validated twice: when it arrives (so junk never queues) and again inside the
// write transaction (the task may have moved on since). An update for an unknown task, a task
// of another node, or one that would move a task backwards is dropped and counted, never
// written: states only move forward.

import type { TaskStatusUpdate } from "../../core/codec/index.ts";
import { limits } from "../../core/limits.ts";
import type { Task, TaskStateValue, TaskStatus } from "../../core/model/index.ts";
import type { StoreWriter, WriteTx } from "../../core/store/index.ts";
import type { Clock, Timer } from "./clock.ts";
import type { DropReason, Drops, Logger } from "./log.ts";
import { applyNodeChange, type NodeChange } from "./node-writes.ts";

/** Why an agent's update cannot be applied to the task as stored; undefined when it can. */
export function statusProblem(
  task: Task | undefined,
  nodeId: string,
  u: TaskStatusUpdate,
): DropReason | undefined {
  if (task === undefined) return "unknown_task";
  if (task.nodeId !== nodeId) return "wrong_node";
  if (u.state < task.status.state) return "backwards";
  return undefined;
}

function sameStatus(s: TaskStatus, u: TaskStatusUpdate): boolean {
  return (
    s.state === u.state &&
    s.message === u.message &&
    s.err === u.err &&
    s.exitCode === u.exitCode &&
    (u.containerId === undefined || s.containerId === u.containerId)
  );
}

function nextStatus(prev: TaskStatus, u: TaskStatusUpdate): TaskStatus {
  const s: TaskStatus = {
    state: u.state as TaskStateValue,
    timestamp: u.timestamp,
    message: u.message,
  };
  if (u.err !== undefined) s.err = u.err;
  const containerId = u.containerId ?? prev.containerId;
  if (containerId !== undefined) s.containerId = containerId;
  if (u.exitCode !== undefined) s.exitCode = u.exitCode;
  return s;
}

interface Queued {
  nodeId: string;
  update: TaskStatusUpdate;
  attempts: number;
}

export interface BatcherDeps {
  writer: StoreWriter;
  clock: Clock;
  drops: Drops;
  log: Logger;
  registerUnknownNodes: boolean;
}

export class WriteBatcher {
  readonly #deps: BatcherDeps;
  readonly #statuses = new Map<string, Queued>();
  readonly #nodes = new Map<string, NodeChange>();
  #timer: Timer | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = false;
  /** Store writes made, task statuses written, updates accepted into the queue. */
  writes = 0;
  tasksWritten = 0;
  accepted = 0;
  unchanged = 0;

  constructor(deps: BatcherDeps) {
    this.#deps = deps;
  }

  get queued(): number {
    return this.#statuses.size + this.#nodes.size;
  }

  /** Queues an agent's status update after checking it against the store. */
  offer(nodeId: string, u: TaskStatusUpdate): void {
    const { drops, writer } = this.#deps;
    const task = writer.store.view((tx) => tx.get("tasks", u.taskId));
    const problem = statusProblem(task, nodeId, u);
    if (problem) {
      drops.drop(problem, `status for task ${u.taskId}`, { nodeId });
      return;
    }
    const prior = this.#statuses.get(u.taskId);
    if (prior && u.state < prior.update.state) {
      drops.drop("backwards", `status for task ${u.taskId}`, { nodeId });
      return;
    }
    if (!prior && sameStatus(task!.status, u)) {
      this.unchanged++;
      return;
    }
    if (!prior && this.#statuses.size >= limits.statusQueueItemsMax) {
      drops.drop("queue_full", `status for task ${u.taskId}`, { nodeId });
      return;
    }
    this.#statuses.set(u.taskId, { nodeId, update: u, attempts: prior?.attempts ?? 0 });
    this.accepted++;
    this.#schedule();
  }

  /** Queues a node write; a later change for the same node replaces an earlier one. */
  node(nodeId: string, change: NodeChange): void {
    const prior = this.#nodes.get(nodeId);
    const merged = { ...change };
    if (prior?.description && !change.description) merged.description = prior.description;
    if (prior?.addr && !change.addr) merged.addr = prior.addr;
    this.#nodes.set(nodeId, merged);
    this.#schedule();
  }

  /** Writes everything queued (in batches) and resolves when the store has it. */
  async drain(): Promise<void> {
    for (let guard = 0; guard < 1000; guard++) {
      await this.#inFlight;
      if (this.queued === 0) return;
      this.#flush();
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#stopped || this.#inFlight) return;
    if (this.#statuses.size >= limits.statusBatchItemsMax) {
      this.#flush();
      return;
    }
    this.#timer ??= this.#deps.clock.setTimer(limits.statusBatchIntervalMs, () => this.#flush());
  }

  #flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#inFlight || this.queued === 0) return;
    const statuses = this.#take(this.#statuses, limits.statusBatchItemsMax);
    const nodes = this.#take(this.#nodes, limits.statusBatchItemsMax);
    this.#inFlight = this.#write(statuses, nodes).finally(() => {
      this.#inFlight = undefined;
      if (!this.#stopped && this.queued > 0) this.#schedule();
    });
  }

  #take<V>(from: Map<string, V>, max: number): [string, V][] {
    const out: [string, V][] = [];
    for (const entry of from) {
      if (out.length >= max) break;
      out.push(entry);
    }
    for (const [k] of out) from.delete(k);
    return out;
  }

  async #write(statuses: [string, Queued][], nodes: [string, NodeChange][]): Promise<void> {
    const { writer, drops, registerUnknownNodes } = this.#deps;
    let written = 0;
    try {
      await writer.update((tx) => {
        written = 0;
        for (const [, q] of statuses) if (this.#applyStatus(tx, q)) written++;
        for (const [id, c] of nodes) applyNodeChange(tx, id, c, registerUnknownNodes);
      });
      this.writes++;
      this.tasksWritten += written;
    } catch (err) {
      this.#retry(statuses, nodes, err);
      if (statuses.length + nodes.length > 0 && !isRetryable(err)) {
        drops.drop("write_failed", `store write of ${statuses.length} statuses failed`, {
          err: String(err),
        });
      }
    }
  }

  /** Re-validated inside the transaction: the task may have changed since it was queued. */
  #applyStatus(tx: WriteTx, q: Queued): boolean {
    const task = tx.get("tasks", q.update.taskId);
    const problem = statusProblem(task, q.nodeId, q.update);
    if (problem) {
      this.#deps.drops.drop(problem, `status for task ${q.update.taskId}`, { nodeId: q.nodeId });
      return false;
    }
    if (sameStatus(task!.status, q.update)) return false;
    const now = this.#deps.clock.now();
    tx.update("tasks", { ...task!, updatedAt: now, status: nextStatus(task!.status, q.update) });
    return true;
  }

  /** A conflict (someone else wrote one of these objects first) is retried a few times. */
  #retry(statuses: [string, Queued][], nodes: [string, NodeChange][], err: unknown): void {
    if (!isRetryable(err) || this.#stopped) return;
    for (const [id, q] of statuses) {
      if (q.attempts + 1 > limits.statusWriteRetriesMax || this.#statuses.has(id)) continue;
      this.#statuses.set(id, { ...q, attempts: q.attempts + 1 });
    }
    for (const [id, c] of nodes) {
      const attempts = (c.attempts ?? 0) + 1;
      if (attempts > limits.statusWriteRetriesMax || this.#nodes.has(id)) continue;
      this.#nodes.set(id, { ...c, attempts });
    }
    this.#deps.log.info("status write conflicted; retrying", { err: String(err) });
  }
}

function isRetryable(err: unknown): boolean {
  return (
    typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === true
  );
}
