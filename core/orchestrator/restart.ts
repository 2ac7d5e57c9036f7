// Restart supervision: what happens when a task that should run has stopped. It follows the
// task's restart policy (condition none / on-failure / any, delay, max attempts within a
// window). A restart is a new task in the same slot, created once the delay has passed; the
// old task goes to SHUTDOWN in the same transaction. A task that is not restarted goes to
// desired COMPLETE, which keeps its slot filled so no other loop refills it. A completed job
// task is never restarted. Tasks on lost or drained nodes are node-failure.ts's business.
//
// Restart times live in memory (as in SwarmKit); a new leader rebuilds them from the task
// history (as deep as the history limit keeps), and a pending delay starts again from the
// time the new leader sees the task.

import { limits } from "../limits.ts";
import { isTerminal, TaskState } from "../model/task-state.ts";
import type { RestartPolicy, Service, Task } from "../model/types.ts";
import type { Store } from "../store/store.ts";
import type { ReadTx } from "../store/tx.ts";
import type { StoreEvent } from "../store/watch.ts";
import { BaseLoop, type LoopOptions, Timers } from "./loop.ts";
import {
  isJobMode,
  isLive,
  isRunnable,
  modeOf,
  replaceTask,
  setDesired,
  slotKey,
  slotTasks,
} from "./tasks.ts";

export type RestartVerdict = "restart" | "finish";

/** The restart policy's decision for a stopped task (pure; `attempts` within the window). */
export function restartVerdict(
  policy: RestartPolicy,
  task: Pick<Task, "status">,
  job: boolean,
  attempts: number,
): RestartVerdict {
  const completed = task.status.state === TaskState.COMPLETE;
  if (job && completed) return "finish";
  if (policy.condition === "none") return "finish";
  if (policy.condition === "on-failure" && completed) return "finish";
  if (policy.maxAttempts > 0 && attempts >= policy.maxAttempts) return "finish";
  return "restart";
}

interface Stopped {
  task: Task;
  service: Service;
  /** Another task in the slot is live: the slot is served, this one just steps aside. */
  served: boolean;
}

export class RestartLoop extends BaseLoop {
  readonly #candidates = new Set<string>();
  readonly #timers = new Timers();
  /** `service/slot/specVersion` -> restart times, oldest first. */
  readonly #history = new Map<string, number[]>();

  constructor(store: Store, options: LoopOptions) {
    super("restart", store, options, { tables: ["tasks"] });
  }

  override nextDeadlineMs(): number | undefined {
    return this.#timers.next();
  }

  /** Restarts recorded for a slot within the policy's window (0: ever). */
  attempts(task: Task, nowMs: number): number {
    const times = this.#history.get(historyKey(task));
    if (times === undefined) return 0;
    const window = task.spec.restartPolicy.windowMs;
    return window > 0 ? times.filter((t) => t > nowMs - window).length : times.length;
  }

  protected resync(): void {
    this.#timers.clear();
    this.#candidates.clear();
    this.#history.clear();
    const tasks = this.view((tx) => tx.find("tasks"));
    for (const t of tasks) {
      if (isRunnable(t) && isTerminal(t.status.state)) this.#candidates.add(t.id);
    }
    for (const [key, times] of restartsInHistory(tasks)) this.#history.set(key, times);
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "commit" || e.kind === "delete") return;
    const t = e.object as Task;
    if (isRunnable(t) && isTerminal(t.status.state)) this.#candidates.add(t.id);
  }

  protected reconcile(nowMs: number): void {
    const ids = [...this.#candidates].sort();
    this.#candidates.clear();
    for (const id of ids) this.#decide(id, nowMs);
    for (const id of this.#timers.take(nowMs)) this.#restart(id, nowMs);
  }

  #decide(id: string, nowMs: number): void {
    const s = this.view((tx) => stopped(tx, id));
    if (s === undefined) {
      this.#timers.delete(id);
      return;
    }
    if (s.served) {
      this.write((tx) => setDesired(tx, s.task, TaskState.SHUTDOWN, nowMs));
      return;
    }
    const policy = s.task.spec.restartPolicy;
    const job = isJobMode(modeOf(s.service));
    if (restartVerdict(policy, s.task, job, this.attempts(s.task, nowMs)) === "finish") {
      this.#timers.delete(id);
      this.write((tx) => setDesired(tx, s.task, TaskState.COMPLETE, nowMs));
      return;
    }
    if (!this.#timers.has(id)) this.#timers.set(id, nowMs + Math.max(0, policy.delayMs));
  }

  #restart(id: string, nowMs: number): void {
    this.write((tx) => {
      const s = stopped(tx, id);
      if (s === undefined) return;
      if (s.served) {
        setDesired(tx, s.task, TaskState.SHUTDOWN, nowMs);
        return;
      }
      const message = `restarted: task ${s.task.id} ended (${stateWord(s.task)})`;
      replaceTask(tx, s.service, s.task, { id: this.newId(tx), nowMs, message });
      this.#record(s.task, nowMs);
    });
  }

  #record(task: Task, nowMs: number): void {
    const key = historyKey(task);
    const times = this.#history.get(key) ?? [];
    times.push(nowMs);
    const window = task.spec.restartPolicy.windowMs;
    const kept = window > 0 ? times.filter((t) => t > nowMs - window) : times;
    this.#history.set(key, kept.slice(-limits.restartHistoryPerSlotMax));
  }
}

/**
 * Restart times as far as the task history tells (a new leader's starting point): a task that
 * followed, in its slot, one that had stopped on its own was a restart at its creation. Only
 * as deep as the cluster's task history limit keeps (pure).
 */
export function restartsInHistory(tasks: readonly Task[]): Map<string, number[]> {
  const slots = new Map<string, Task[]>();
  for (const t of tasks) {
    const k = `${t.serviceId}/${slotKey(t)}`;
    slots.set(k, [...(slots.get(k) ?? []), t]);
  }
  const out = new Map<string, number[]>();
  for (const list of slots.values()) {
    list.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const s = prev.status.state;
      const ended = s === TaskState.FAILED || s === TaskState.REJECTED || s === TaskState.COMPLETE;
      if (!ended || prev.desiredState !== TaskState.SHUTDOWN) continue;
      const key = historyKey(prev);
      out.set(key, [...(out.get(key) ?? []), list[i]!.createdAt]);
    }
  }
  return out;
}

/** The task, if it still should run but has stopped, with its service and slot siblings. */
function stopped(tx: ReadTx, id: string): Stopped | undefined {
  const task = tx.get("tasks", id);
  if (task === undefined || !isRunnable(task) || !isTerminal(task.status.state)) return undefined;
  const service = tx.get("services", task.serviceId);
  if (service === undefined) return undefined;
  if (task.slot === 0 && tx.get("nodes", task.nodeId) === undefined) return undefined;
  const served = slotTasks(tx, task).some((o) => o.id !== task.id && isLive(o));
  return { task, service, served };
}

function historyKey(t: Task): string {
  return `${t.serviceId}/${slotKey(t)}/${t.specVersion}`;
}

function stateWord(t: Task): string {
  const code = t.status.exitCode === undefined ? "" : `, exit ${t.status.exitCode}`;
  if (t.status.state === TaskState.COMPLETE) return `completed${code}`;
  if (t.status.state === TaskState.REJECTED) return "rejected";
  if (t.status.state === TaskState.FAILED) return `failed${code}`;
  return `stopped${code}`;
}
