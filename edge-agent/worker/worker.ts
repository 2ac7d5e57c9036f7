// The Worker: reconciles the assignment (desired tasks) with the containers found by label.
// Each pass looks at every task once and takes it forward step by step (decide.ts says which
// step; this file only executes it). Status changes go to a StatusSink, which batches them.
// It never creates tasks (the manager does) and never moves a task's state backwards.

export type { StatusSink, WorkerOptions } from "./options.ts";

import type { AssignedTask, TaskStatusUpdate } from "../../core/codec/index.ts";
import { limits } from "../../core/limits.ts";
import { assertForward, TaskState, type TaskStateValue } from "../../core/model/task-state.ts";
import {
  type ContainerInfo,
  ExecutorError,
  LABEL_NODE_ID,
  LABEL_TASK_ID,
} from "../executor/executor.ts";
import type { Assignment } from "../state/state.ts";
import { ConnectivityTracker } from "./connectivity.ts";
import {
  type Connectivity,
  failedStepState,
  nextStep,
  restartVerdict,
  type Step,
} from "./decide.ts";
import type { WorkerOptions } from "./options.ts";
import { Orphans } from "./orphans.ts";
import { progressMessage } from "./progress.ts";
import { planTask, SpecError, specError, type TaskPlan } from "./spec.ts";
import { Wakeup } from "./wake.ts";

const STEPS_PER_TASK_MAX = limits.agentStepsPerTaskMax;
const ORPHAN_GRACE_MS = limits.agentOrphanGraceMs;
const PROGRESS_INTERVAL_MS = limits.agentPullProgressIntervalMs;

export class Worker {
  readonly #o: Required<Omit<WorkerOptions, "initial" | "initialTrusted" | "persist">> &
    Pick<WorkerOptions, "persist">;
  #assignment: Assignment;
  #trusted: boolean;
  readonly #statuses = new Map<string, TaskStatusUpdate>();
  readonly #restarts = new Map<string, number[]>();
  readonly #busy = new Set<string>();
  /** Grace periods of tasks that left the assignment, for stopping their containers. */
  readonly #orphans: Orphans;
  #dirty = false;
  readonly #link: ConnectivityTracker;
  #timer: NodeJS.Timeout | undefined;
  #passing: Promise<void> | undefined;
  #unwatch: (() => void) | undefined;
  readonly #wake: Wakeup;

  constructor(o: WorkerOptions) {
    this.#o = {
      now: Date.now,
      pollIntervalMs: limits.agentPollIntervalMsDefault,
      offlineAfterMs: limits.agentOfflineAfterMsDefault,
      log: () => {},
      ...o,
    };
    this.#assignment = o.initial?.assignment ?? { version: 0, tasks: [] };
    for (const s of Object.values(o.initial?.statuses ?? {})) this.#statuses.set(s.taskId, s);
    this.#trusted = o.initialTrusted ?? false;
    this.#link = new ConnectivityTracker(this.#o.now, this.#o.offlineAfterMs);
    this.#wake = new Wakeup(this.#o.now, () => this.poke());
    this.#orphans = new Orphans(this.#o.executor, this.#o.log);
  }

  get assignVersion(): number {
    return this.#assignment.version;
  }

  /** Current status of every assigned task (what a hello carries). */
  statuses(): TaskStatusUpdate[] {
    return this.#assignment.tasks.map((t) => this.#status(t));
  }

  /** Number of containers the worker believes run (for heartbeats). */
  runningCount(): number {
    return this.statuses().filter((s) => s.state === TaskState.RUNNING).length;
  }

  /** A manager sent an assignment; older versions than the applied one are ignored. */
  setAssignment(a: Assignment): boolean {
    if (a.version < this.#assignment.version) return false;
    const ids = new Set(a.tasks.map((t) => t.id));
    this.#orphans.left(this.#assignment.tasks, ids);
    this.#assignment = a;
    this.#trusted = true;
    for (const id of this.#statuses.keys()) if (!ids.has(id)) this.#statuses.delete(id);
    for (const id of this.#restarts.keys()) if (!ids.has(id)) this.#restarts.delete(id);
    this.#dirty = true;
    this.#flushState();
    this.poke();
    return true;
  }

  /** The session says whether a manager is reachable now. */
  setOnline(online: boolean): void {
    if (!this.#link.set(online)) return;
    this.poke();
    // Offline autonomy starts when the threshold passes, not at the next (slow) poll.
    if (!online) this.#wake.at(this.#o.now() + this.#o.offlineAfterMs + 1);
  }

  connectivity(): Connectivity {
    return this.#link.get();
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.poke(), this.#o.pollIntervalMs);
    this.#timer.unref?.();
    // The engine's events (when the executor has them) make the worker react at once.
    this.#unwatch = this.#o.executor.watch?.(
      { [LABEL_NODE_ID]: this.#o.nodeId },
      () => this.poke(),
      this.#o.log,
    );
    if (this.connectivity() !== "online") this.#wake.at(this.#o.now() + this.#o.offlineAfterMs + 1);
    this.poke();
  }

  /** Stops the loop (containers keep running) and waits for steps in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#wake.cancel();
    for (let i = 0; i < 100 && this.#passing; i++) await this.#passing;
    this.#flushState();
  }

  /** Starts a pass unless one is running (a running pass is followed by another). */
  poke(): void {
    if (!this.#timer) return;
    if (this.#passing) {
      this.#again = true;
      return;
    }
    this.#passing = this.reconcile()
      .catch((err) => this.#o.log(`worker: pass failed: ${String(err)}`))
      .finally(() => {
        this.#passing = undefined;
        if (this.#again) {
          this.#again = false;
          this.poke();
        }
      });
  }
  #again = false;

  /** One pass: every task taken as far forward as it goes now; orphans removed. */
  async reconcile(): Promise<void> {
    let found: ContainerInfo[];
    try {
      found = await this.#o.executor.list({ [LABEL_NODE_ID]: this.#o.nodeId });
    } catch (err) {
      this.#o.log(`worker: cannot list containers: ${String(err)}`);
      return;
    }
    const byTask = new Map<string, ContainerInfo>();
    for (const c of found) {
      const id = c.labels[LABEL_TASK_ID];
      if (id) byTask.set(id, c);
    }
    const work: Promise<void>[] = [];
    for (const task of this.#assignment.tasks) {
      work.push(this.#exclusive(task.id, () => this.#advance(task, byTask.get(task.id))));
    }
    if (this.#trusted) {
      const wanted = new Set(this.#assignment.tasks.map((t) => t.id));
      for (const [id, c] of byTask) {
        if (!wanted.has(id))
          work.push(this.#exclusive(`orphan:${c.id}`, () => this.#orphans.remove(c)));
      }
    }
    await Promise.all(work);
    this.#flushState();
  }

  async #exclusive(key: string, fn: () => Promise<void>): Promise<void> {
    if (this.#busy.has(key)) return;
    this.#busy.add(key);
    try {
      await fn();
    } finally {
      this.#busy.delete(key);
    }
  }

  #status(t: AssignedTask): TaskStatusUpdate {
    return (
      this.#statuses.get(t.id) ?? {
        taskId: t.id,
        state: TaskState.ASSIGNED,
        timestamp: 0,
        message: "assigned",
      }
    );
  }

  #set(
    taskId: string,
    state: TaskStateValue,
    message: string,
    extra: Partial<TaskStatusUpdate> = {},
  ) {
    const old = this.#statuses.get(taskId);
    if (old) assertForward(old.state as TaskStateValue, state, `task ${taskId}`);
    const next: TaskStatusUpdate = {
      ...old,
      taskId,
      state,
      message: message.slice(0, 1024),
      timestamp: this.#o.now(),
      ...extra,
    };
    // The wire bounds (core/codec): message 1024, err 4096 characters.
    if (next.err === undefined) delete next.err;
    else next.err = next.err.slice(0, 4096);
    this.#statuses.set(taskId, next);
    this.#dirty = true;
    this.#o.sink.report(next);
  }

  #flushState(): void {
    if (!this.#dirty || !this.#o.persist) return;
    this.#dirty = false;
    try {
      this.#o.persist({
        assignment: this.#assignment,
        statuses: Object.fromEntries(this.#statuses),
      });
    } catch (err) {
      this.#o.log(`worker: state not saved (will retry): ${String(err)}`);
      this.#dirty = true;
    }
  }

  async #observe(task: AssignedTask, listed: ContainerInfo | undefined) {
    const id = this.#statuses.get(task.id)?.containerId;
    if (id === undefined) return listed;
    return (await this.#o.executor.inspect(id)) ?? listed;
  }

  async #advance(task: AssignedTask, listed: ContainerInfo | undefined): Promise<void> {
    let plan: TaskPlan | undefined;
    try {
      plan = planTask(task, this.#o.nodeId);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
    }
    for (let i = 0; i < STEPS_PER_TASK_MAX; i++) {
      let container: ContainerInfo | undefined;
      try {
        container = await this.#observe(task, listed);
      } catch (err) {
        // Without seeing the container nothing can be decided; the next pass looks again.
        this.#o.log(`worker: task ${task.id}: cannot inspect its container: ${String(err)}`);
        return;
      }
      const state = this.#status(task).state as TaskStateValue;
      if (!plan && state < TaskState.RUNNING && task.desiredState <= TaskState.RUNNING) {
        this.#set(task.id, TaskState.REJECTED, "invalid spec", {
          err: specError(task, this.#o.nodeId),
        });
        return;
      }
      const restart = restartVerdict(
        plan?.restartPolicy ?? { condition: "none", delayMs: 0, maxAttempts: 0, windowMs: 0 },
        container?.exitCode,
        container?.finishedAt ?? 0,
        this.#restarts.get(task.id) ?? [],
        this.#o.now(),
      );
      if (restart.kind === "later") this.#wake.at(restart.atMs);
      const step = nextStep({
        desiredState: task.desiredState as TaskStateValue,
        state,
        container,
        hasHealthcheck: plan?.container.healthcheck !== undefined,
        connectivity: this.connectivity(),
        restart,
      });
      if (step.kind === "none") return;
      const more = await this.#execute(task, plan, container, step);
      if (!more) return;
    }
  }

  /** Executes one step; false when the task should wait for the next pass. */
  async #execute(
    task: AssignedTask,
    plan: TaskPlan | undefined,
    container: ContainerInfo | undefined,
    step: Step,
  ): Promise<boolean> {
    const ex = this.#o.executor;
    const containerId = container?.id;
    try {
      switch (step.kind) {
        case "report": {
          const extra: Partial<TaskStatusUpdate> = {};
          if (containerId) extra.containerId = containerId;
          if (step.exitCode !== undefined) extra.exitCode = step.exitCode;
          this.#set(task.id, step.state, step.message, extra);
          return true;
        }
        case "prepare":
          return await this.#prepare(task, plan!);
        case "start":
          await ex.start(containerId!);
          this.#set(task.id, TaskState.STARTING, "starting");
          return true;
        case "stop":
          await this.#stop(task, plan, containerId!, step);
          return false;
        case "restart":
          await this.#restart(task, containerId!, step.message);
          return false;
      }
    } catch (err) {
      return this.#failed(task, step, err);
    }
    return false;
  }

  async #stop(
    task: AssignedTask,
    plan: TaskPlan | undefined,
    id: string,
    step: Extract<Step, { kind: "stop" }>,
  ): Promise<void> {
    await this.#o.executor.stop(id, plan?.stopGracePeriodMs ?? ORPHAN_GRACE_MS);
    if (step.after === undefined) return;
    const after = await this.#o.executor.inspect(id);
    const extra: Partial<TaskStatusUpdate> = {};
    if (after?.exitCode !== undefined) extra.exitCode = after.exitCode;
    this.#set(task.id, step.after, step.message, extra);
  }

  /** Offline autonomy: the same container again; the task keeps its id and its state. */
  async #restart(task: AssignedTask, id: string, message: string): Promise<void> {
    const history = this.#restarts.get(task.id) ?? [];
    history.push(this.#o.now());
    this.#restarts.set(task.id, history.slice(-limits.agentRestartHistoryMax));
    await this.#o.executor.start(id);
    const state = this.#status(task).state as TaskStateValue;
    this.#set(task.id, state, `${message}; ${history.length} restart(s) while offline`);
  }

  #failed(task: AssignedTask, step: Step, err: unknown): boolean {
    const text = err instanceof Error ? err.message : String(err);
    const engineDown = err instanceof ExecutorError && err.code === "engine" && err.retryable;
    const to = failedStepState(step, this.#status(task).state as TaskStateValue, engineDown);
    if (to === undefined) {
      this.#o.log(`worker: task ${task.id}: ${step.kind} failed (next pass retries): ${text}`);
    } else this.#set(task.id, to, `${step.kind} failed`, { err: text });
    return false;
  }

  async #prepare(task: AssignedTask, plan: TaskPlan): Promise<boolean> {
    const ex = this.#o.executor;
    const image = plan.container.image;
    if (!(await ex.hasImage(image))) {
      this.#set(task.id, TaskState.PREPARING, `pulling image ${image}`);
      let last = 0;
      await ex.pull(image, (p) => {
        const now = this.#o.now();
        if (now - last < PROGRESS_INTERVAL_MS) return;
        last = now;
        this.#set(task.id, TaskState.PREPARING, progressMessage(image, p));
      });
    }
    const id = await ex.create(plan.container);
    this.#set(task.id, TaskState.READY, "prepared", { containerId: id });
    return true;
  }
}
