// Rolling updates and rollbacks of replicated and global services. When a service's spec
// version moves past what its tasks run, the outdated slots are replaced in batches of
// `parallelism` (0: all at once), `delayMs` apart:
//   - stop-first: the old task is shut down and the new one created desired READY: it is
//     scheduled and prepared at once, and started only when the old one has stopped (the
//     start gate below; it needs only the store, so it survives a leader change);
//   - start-first: the new task is started, and the old one shut down once the new runs.
// Each new task is watched for `monitorMs` after it runs; one that fails (or exits) before
// then is a failure, and so is one that fails to start. Past `maxFailureRatio` of the slots,
// the failure action applies: pause (status "paused" with the task named), continue, or
// rollback (the previous spec comes back as a new spec version, rolled out with
// rollbackConfig; status "rollback_started", then "rollback_completed" or "rollback_paused").
// The status lives in service.updateStatus with the spec version it is about.

import { TaskState } from "../model/task-state.ts";
import type { Service, Task } from "../model/types.ts";
import { by } from "../store/indexes.ts";
import type { Store } from "../store/store.ts";
import type { StoreEvent } from "../store/watch.ts";
import { BaseLoop, type LoopOptions } from "./loop.ts";
import {
  isJobMode,
  isLive,
  isLost,
  isRunnable,
  isSchedulable,
  modeOf,
  newTask,
  sameValue,
  setDesired,
  slotTasks,
} from "./tasks.ts";
import {
  exceedsRatio,
  failedOnItsOwn,
  isHeld,
  isOutdated,
  isRollback,
  newRun,
  outdatedSlots,
  status,
  stillRunning,
  type UpdateRun,
} from "./update-run.ts";

export class UpdateLoop extends BaseLoop {
  readonly #runs = new Map<string, UpdateRun>();
  readonly #dirty = new Set<string>();
  /** Tasks that started running: their slot may hand over from an older task. */
  readonly #started = new Set<string>();
  #gate = false;

  constructor(store: Store, options: LoopOptions) {
    super("update", store, options, { tables: ["services", "tasks", "nodes"] });
  }

  override nextDeadlineMs(): number | undefined {
    let min: number | undefined;
    const at = (t: number) => {
      if (min === undefined || t < min) min = t;
    };
    for (const run of this.#runs.values()) {
      if (run.wakeMs !== undefined) at(run.wakeMs);
      for (const until of run.monitor.values()) at(until);
    }
    return min;
  }

  protected resync(): void {
    this.#runs.clear();
    this.#gate = true;
    for (const s of this.view((tx) => tx.find("services"))) this.#dirty.add(s.id);
    for (const t of this.view((tx) => tx.find("tasks", by.state(TaskState.RUNNING)))) {
      this.#started.add(t.id);
    }
  }

  protected observe(e: StoreEvent): void {
    if (e.kind === "commit") return;
    this.#gate = true;
    if (e.table === "services") this.#dirty.add(e.object.id);
    if (e.table !== "tasks") return;
    const t = e.object as Task;
    // Slots become outdated by a spec change, or when a slot's current task stops holding it
    // (a desired-state change); status progress matters only to a run in progress.
    const desiredMoved = e.kind !== "update" || (e.old as Task).desiredState !== t.desiredState;
    if (desiredMoved || this.#runs.has(t.serviceId)) this.#dirty.add(t.serviceId);
    const was = e.kind === "update" ? (e.old as Task).status.state : undefined;
    if (t.status.state === TaskState.RUNNING && was !== TaskState.RUNNING) this.#started.add(t.id);
  }

  protected reconcile(nowMs: number): void {
    if (this.#gate) this.#openGate(nowMs);
    this.#gate = false;
    this.#handOver(nowMs);
    for (const [id, run] of this.#runs) {
      if (run.wakeMs !== undefined && run.wakeMs <= nowMs) this.#dirty.add(id);
      for (const until of run.monitor.values()) if (until <= nowMs) this.#dirty.add(id);
    }
    const ids = [...this.#dirty].sort();
    this.#dirty.clear();
    for (const id of ids) this.#reconcileService(id, nowMs);
  }

  /** Starts each stop-first task (desired READY) whose slot has no other task still running. */
  #openGate(nowMs: number): void {
    const ready = this.view((tx) =>
      tx.find("tasks", by.desiredState(TaskState.READY)).filter((t) => {
        return !slotTasks(tx, t).some(
          (o) => o.id !== t.id && stillRunning(o, isLost(tx.get("nodes", o.nodeId))),
        );
      }),
    );
    ready.sort((a, b) => (a.id < b.id ? -1 : 1));
    this.writeEach(ready, (tx, t) => {
      const cur = tx.get("tasks", t.id);
      if (cur?.desiredState === TaskState.READY) setDesired(tx, cur, TaskState.RUNNING, nowMs);
    });
  }

  /**
   * The other half of start-first (an update's or a rebalance move's): once the newest task of
   * a slot runs, the older live tasks in the slot stop. Derived from the store alone, so a
   * handover in flight at a leader change still completes.
   */
  #handOver(nowMs: number): void {
    const ids = [...this.#started].sort();
    this.#started.clear();
    this.writeEach(ids, (tx, id) => {
      const t = tx.get("tasks", id);
      if (t === undefined || !isLive(t) || t.status.state !== TaskState.RUNNING) return;
      const service = tx.get("services", t.serviceId);
      if (service === undefined) return;
      const live = slotTasks(tx, t).filter(isLive);
      if (live.length < 2 || newestOf(live, service).id !== t.id) return;
      for (const o of live) if (o.id !== t.id) setDesired(tx, o, TaskState.SHUTDOWN, nowMs);
    });
  }

  #reconcileService(id: string, nowMs: number): void {
    const found = this.view((tx) => {
      const s = tx.get("services", id);
      return s && { service: s, tasks: tx.find("tasks", by.serviceId(id)) };
    });
    if (found === undefined || isJobMode(modeOf(found.service)) || isHeld(found.service)) {
      this.#runs.delete(id);
      return;
    }
    const { service, tasks } = found;
    let run = this.#runs.get(id);
    if (run !== undefined && run.specVersion !== service.specVersion) {
      // A new spec version with the same template (scaled, relabelled) continues the run; a
      // new template supersedes it.
      if (sameValue(run.template, service.spec.taskTemplate)) run.specVersion = service.specVersion;
      else run = undefined;
    }
    const outdated = outdatedSlots(tasks, service);
    if (run === undefined) {
      this.#runs.delete(id);
      if (outdated.length === 0) {
        this.#finishUnfinished(service, nowMs);
        return;
      }
      run = newRun(service, isRollback(service), outdated.length, nowMs);
      this.#runs.set(id, run);
      if (!this.#setStatus(service, status(run, "started", nowMs, "update in progress"))) return;
    }
    this.#advance(service, run, tasks, nowMs);
  }

  #advance(service: Service, run: UpdateRun, tasks: Task[], nowMs: number): void {
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const wasBusy = run.inFlight.size > 0;
    this.#followInFlight(run, byId, nowMs);
    this.#followMonitor(run, byId, nowMs);
    if (wasBusy && run.inFlight.size === 0) run.nextBatchMs = nowMs + run.config.delayMs;
    if (exceedsRatio(run) && run.config.failureAction !== "continue") {
      this.#runs.delete(service.id);
      this.#fail(service, run, nowMs);
      return;
    }
    const todo = outdatedSlots(tasks, service).filter(([k]) => !run.attempted.has(k));
    const waiting = run.inFlight.size === 0 && todo.length > 0;
    run.wakeMs = waiting && run.nextBatchMs > nowMs ? run.nextBatchMs : undefined;
    if (waiting && run.nextBatchMs <= nowMs) {
      const n = run.config.parallelism > 0 ? run.config.parallelism : todo.length;
      this.#startBatch(service, run, todo.slice(0, n), nowMs);
      return;
    }
    if (todo.length === 0 && run.inFlight.size === 0 && run.monitor.size === 0) {
      this.#runs.delete(service.id);
      const msg =
        run.failures > 0 ? `update completed with ${run.failures} failure(s)` : "update completed";
      this.#setStatus(
        service,
        status(run, "completed", nowMs, msg, service.updateStatus?.startedAt),
      );
    }
  }

  #followInFlight(run: UpdateRun, byId: Map<string, Task>, nowMs: number): void {
    for (const [key, f] of run.inFlight) {
      const t = byId.get(f.taskId);
      // Failure first: the restart loop may already have replaced a task that failed.
      if (t !== undefined && failedOnItsOwn(t)) {
        run.inFlight.delete(key);
        this.#failure(run, t);
      } else if (t === undefined || !isRunnable(t)) {
        run.inFlight.delete(key); // replaced or removed by another loop: not ours any more
      } else if (t.slot === 0 && this.#nodeAway(t)) {
        // A global task whose node is down or paused: it gets the new version when the node
        // is back; the update does not wait for it.
        run.inFlight.delete(key);
      } else if (t.status.state === TaskState.RUNNING) {
        run.inFlight.delete(key);
        run.monitor.set(t.id, nowMs + run.config.monitorMs);
        const old = f.oldIds.map((id) => byId.get(id)).filter((o) => o !== undefined);
        this.writeEach(old, (tx, o) => {
          const cur = tx.get("tasks", o.id);
          if (cur !== undefined && isRunnable(cur)) setDesired(tx, cur, TaskState.SHUTDOWN, nowMs);
        });
      }
    }
  }

  #nodeAway(t: Task): boolean {
    return (
      t.status.state <= TaskState.PENDING &&
      !isSchedulable(this.view((tx) => tx.get("nodes", t.nodeId)))
    );
  }

  #followMonitor(run: UpdateRun, byId: Map<string, Task>, nowMs: number): void {
    for (const [id, until] of run.monitor) {
      const t = byId.get(id);
      if (t === undefined) run.monitor.delete(id);
      else if (failedOnItsOwn(t)) {
        run.monitor.delete(id);
        this.#failure(run, t);
      } else if (until <= nowMs) run.monitor.delete(id);
    }
  }

  #failure(run: UpdateRun, t: Task): void {
    run.failures++;
    run.lastFailure = t.id;
  }

  #startBatch(service: Service, run: UpdateRun, batch: [string, Task[]][], nowMs: number): void {
    const startFirst = run.config.order === "start-first";
    const what = run.rollback ? "rollback" : "update";
    const message = `${what} to spec version ${service.specVersion}`;
    this.writeEach(batch, (tx, [key, holders]) => {
      const old = holders.map((h) => tx.get("tasks", h.id)).filter((h) => h !== undefined);
      if (old.length === 0) return;
      const running = old.filter(
        (o) => isRunnable(o) && stillRunning(o, isLost(tx.get("nodes", o.nodeId))),
      );
      const first = old[0]!;
      const next = newTask(service, {
        id: this.newId(tx),
        slot: first.slot,
        nodeId: first.slot > 0 ? "" : first.nodeId,
        nowMs,
        desiredState: startFirst || running.length === 0 ? TaskState.RUNNING : TaskState.READY,
        message,
      });
      tx.create("tasks", next);
      // stop-first stops every old task now; start-first keeps the running ones until the new
      // task runs (#followInFlight shuts them down then).
      const keep = startFirst ? running : [];
      for (const o of old) if (!keep.includes(o)) setDesired(tx, o, TaskState.SHUTDOWN, nowMs);
      run.inFlight.set(key, { taskId: next.id, oldIds: keep.map((o) => o.id) });
      run.attempted.add(key);
    });
  }

  /** The failure action: pause, or roll back to the previous spec (a rollback only pauses). */
  #fail(service: Service, run: UpdateRun, nowMs: number): void {
    const why = `due to failure or early termination of task ${run.lastFailure}`;
    const startedAt = service.updateStatus?.startedAt;
    if (run.config.failureAction === "rollback" && !run.rollback && service.previousSpec) {
      const next = { specVersion: service.specVersion + 1, rollback: true };
      this.write((tx) => {
        const cur = tx.get("services", service.id);
        if (cur === undefined || cur.version !== service.version) return;
        tx.update("services", {
          ...cur,
          spec: cur.previousSpec!,
          previousSpec: cur.spec,
          specVersion: next.specVersion,
          updateStatus: status(next, "started", nowMs, `update rolled back ${why}`),
          updatedAt: nowMs,
        });
      });
      return;
    }
    this.#setStatus(service, status(run, "paused", nowMs, `update paused ${why}`, startedAt));
  }

  /** A run that finished without its status written (leader change, spec bumped meanwhile). */
  #finishUnfinished(service: Service, nowMs: number): void {
    const st = service.updateStatus;
    if (st === undefined || (st.state !== "updating" && st.state !== "rollback_started")) return;
    const run = { specVersion: service.specVersion, rollback: st.state === "rollback_started" };
    this.#setStatus(service, status(run, "completed", nowMs, "update completed", st.startedAt));
  }

  #setStatus(service: Service, next: Service["updateStatus"]): boolean {
    const st = service.updateStatus;
    if (st?.state === next?.state && st?.specVersion === next?.specVersion) return true;
    const ok = this.write((tx) => {
      const cur = tx.get("services", service.id);
      if (cur === undefined || cur.specVersion !== service.specVersion) return;
      tx.update("services", { ...cur, updateStatus: next });
    });
    if (!ok) this.#dirty.add(service.id);
    return ok;
  }
}

/** The task a slot keeps: the current template before an outdated one, then the newest. */
function newestOf(live: Task[], service: Service): Task {
  const rank = (t: Task) => (isOutdated(t, service) ? 0 : 1);
  return live.reduce((a, b) => {
    const d = rank(b) - rank(a) || b.createdAt - a.createdAt || (b.id > a.id ? 1 : -1);
    return d > 0 ? b : a;
  });
}
