// The pure parts of a rolling update: which slots are outdated, in which order they are
// updated, what counts as a failure, and the status the service shows. update.ts drives them.

import { isActive, TaskState } from "../model/task-state.ts";
import type {
  Service,
  Task,
  TaskTemplate,
  UpdateConfig,
  UpdateState,
  UpdateStatus,
} from "../model/types.ts";
import { sameValue, slotsOf } from "./tasks.ts";

/** One service's update in progress (leader memory; rebuilt from the store after a change). */
export interface UpdateRun {
  /** The spec version rolled out; it follows spec changes that leave the template alone. */
  specVersion: number;
  /** The task template rolled out. */
  template: TaskTemplate;
  rollback: boolean;
  config: UpdateConfig;
  /** Outdated slots when the run began: the denominator of the failure ratio. */
  total: number;
  /** Slot key -> the new task and the old ones it replaces. */
  inFlight: Map<string, { taskId: string; oldIds: string[] }>;
  /** New task id -> end of its monitor window. */
  monitor: Map<string, number>;
  /** Slots this run already updated (a slot whose new task failed is not retried). */
  attempted: Set<string>;
  failures: number;
  lastFailure: string;
  /** When the next batch may start (after the previous one finished plus the delay). */
  nextBatchMs: number;
  /** When the loop must look again without an event (a batch delay ending), if ever. */
  wakeMs: number | undefined;
}

export function newRun(service: Service, rollback: boolean, total: number, nowMs: number) {
  const run: UpdateRun = {
    specVersion: service.specVersion,
    template: service.spec.taskTemplate,
    rollback,
    config: rollback ? service.spec.rollbackConfig : service.spec.updateConfig,
    total: Math.max(1, total),
    inFlight: new Map(),
    monitor: new Map(),
    attempted: new Set(),
    failures: 0,
    lastFailure: "",
    nextBatchMs: nowMs,
    wakeMs: undefined,
  };
  return run;
}

/**
 * Slots whose holders all run an older spec version, in update order: slots with nothing
 * running first (updating them costs no service), then by slot key. Each with its holders.
 */
export function outdatedSlots(tasks: readonly Task[], service: Service): [string, Task[]][] {
  const out: [string, Task[]][] = [];
  // Tasks of one spec version share one template: compare it once per version.
  const byVersion = new Map<number, boolean>();
  const outdated = (t: Task) => {
    const known = byVersion.get(t.specVersion);
    if (known !== undefined) return known;
    const v = isOutdated(t, service);
    byVersion.set(t.specVersion, v);
    return v;
  };
  for (const [key, holders] of slotsOf(tasks)) {
    if (holders.some((t) => !outdated(t))) continue;
    out.push([key, holders]);
  }
  const running = (ts: Task[]) => (ts.some((t) => t.status.state === TaskState.RUNNING) ? 1 : 0);
  out.sort((a, b) => running(a[1]) - running(b[1]) || compareSlotKeys(a[0], b[0]));
  return out;
}

/**
 * A task runs an outdated spec when its template differs from the service's (a changed
 * forceUpdate counts). A spec change elsewhere (replicas, labels, update config) bumps the
 * spec version but leaves running tasks alone, as in swarm.
 */
export function isOutdated(t: Task, service: Service): boolean {
  return t.specVersion !== service.specVersion && !sameValue(t.spec, service.spec.taskTemplate);
}

function compareSlotKeys(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A new task that stopped on its own: failed, rejected, or exited (a service should run). */
export function failedOnItsOwn(t: Task): boolean {
  const s = t.status.state;
  return s === TaskState.FAILED || s === TaskState.REJECTED || s === TaskState.COMPLETE;
}

/** Whether an old task still occupies its node (a stop-first new task waits for it). */
export function stillRunning(t: Task, nodeLost: boolean): boolean {
  return isActive(t.status.state) && t.status.state >= TaskState.ASSIGNED && !nodeLost;
}

export function exceedsRatio(run: UpdateRun): boolean {
  return run.failures > 0 && run.failures / run.total > run.config.maxFailureRatio;
}

export function status(
  run: Pick<UpdateRun, "specVersion" | "rollback">,
  phase: "started" | "paused" | "completed",
  nowMs: number,
  message: string,
  startedAt?: number,
): UpdateStatus {
  const states: Record<typeof phase, [UpdateState, UpdateState]> = {
    started: ["updating", "rollback_started"],
    paused: ["paused", "rollback_paused"],
    completed: ["completed", "rollback_completed"],
  };
  const state = states[phase][run.rollback ? 1 : 0];
  const out: UpdateStatus = { state, message, specVersion: run.specVersion };
  out.startedAt = startedAt ?? nowMs;
  if (phase === "completed") out.completedAt = nowMs;
  return out;
}

/** The service's update status says this spec version must not be updated further now. */
export function isHeld(s: Service): boolean {
  const st = s.updateStatus;
  if (st === undefined || st.specVersion !== s.specVersion) return false;
  return st.state === "paused" || st.state === "rollback_paused";
}

/** The status says a rollback to this spec version was started (by us or by the API). */
export function isRollback(s: Service): boolean {
  const st = s.updateStatus;
  if (st === undefined) return false;
  // An API that starts a rollback may not know the version yet: "rollback_started" alone will do.
  if (st.specVersion === undefined) return st.state === "rollback_started";
  return st.specVersion === s.specVersion && st.state.startsWith("rollback");
}
