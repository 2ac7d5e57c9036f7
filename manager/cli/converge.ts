// Waits for a service to converge after create/update/scale/rollback and shows per-task
// progress, as `docker service create` does without -d. It polls the API (reads are cheap and a
// poll survives a manager failover). It ends when the service converged, when it failed (update
// paused or rolled back, a task failed for good) or at the timeout, and says why: the task's
// status message (the scheduler's "no suitable node (…)") or the container's error.

import { statesThroughRunning, TaskState } from "../../core/model/task-state.ts";
import type { Service } from "../../core/model/types.ts";
import { sameValue } from "../../core/orchestrator/tasks.ts";
import { CliError } from "./client.ts";
import type { CliContext } from "./command.ts";
import type { TaskView } from "./commands/tasks.ts";

const POLL_MS = 300;
const BAR = 50;

type ServiceView = Service & {
  serviceStatus: { runningTasks: number; desiredTasks: number; completedTasks?: number };
};

interface Snapshot {
  service: ServiceView;
  tasks: TaskView[];
}

export interface ConvergeOptions {
  timeoutMs: number;
  /** Waiting for a rollback (a rollback is then success, not failure). */
  rollback?: boolean;
  /** No progress lines (`-q`): only the outcome. */
  quiet?: boolean;
}

export async function converge(c: CliContext, id: string, o: ConvergeOptions): Promise<number> {
  const deadline = c.io.now() + o.timeoutMs;
  const shown = new Map<string, string>();
  let snap: Snapshot | undefined;
  for (;;) {
    snap = await read(c, id);
    if (!o.quiet) render(c, progress(snap), shown);
    const failure = failed(snap, o);
    if (failure)
      throw new CliError(`service ${snap.service.spec.name} did not converge: ${failure}`);
    if (converged(snap)) {
      if (!o.quiet) c.io.out(`verify: Service ${snap.service.spec.name} converged`);
      return 0;
    }
    if (c.io.now() >= deadline || c.signal.aborted) break;
    await sleep(POLL_MS, c.signal);
  }
  const why =
    pendingReasons(snap).join("; ") ||
    (current(snap).length === 0
      ? "no task was created (is any node eligible?)"
      : "tasks are starting");
  const hint = "it keeps converging in the background; watch it with `fleet service ps`";
  if (c.signal.aborted) {
    c.io.err(`Operation continuing in background (${why}); ${hint}`);
    return 130;
  }
  throw new CliError(
    `service ${snap.service.spec.name} did not converge within ${o.timeoutMs / 1000}s: ` +
      `${why}\n${hint}`,
  );
}

async function read(c: CliContext, id: string): Promise<Snapshot> {
  const client = c.client();
  const [service, tasks] = await Promise.all([
    client.call("GET", `/v1/services/${encodeURIComponent(id)}`),
    client.call("GET", `/v1/tasks?service=${encodeURIComponent(id)}`),
  ]);
  return { service, tasks };
}

const runnable = (t: TaskView) => t.desiredState <= TaskState.RUNNING;

/** A task of the service's current spec. A scale bumps the spec version but keeps the running
 * tasks (their template did not change), as the orchestrator's update does; a job's new spec
 * version is a new run. */
function upToDate(t: TaskView, service: Service): boolean {
  if (t.specVersion === service.specVersion) return true;
  return !isJob(service) && sameValue(t.spec, service.spec.taskTemplate);
}

function current(s: Snapshot): TaskView[] {
  return s.tasks.filter((t) => runnable(t) && upToDate(t, s.service));
}

function isJob(s: Service): boolean {
  return "replicatedJob" in s.spec.mode || "globalJob" in s.spec.mode;
}

function converged(s: Snapshot): boolean {
  const { service } = s;
  const st = service.updateStatus;
  if (st?.specVersion === service.specVersion && /^(updating|rollback_started)$/.test(st.state))
    return false;
  const mode = service.spec.mode;
  if ("replicatedJob" in mode) {
    return (service.serviceStatus.completedTasks ?? 0) >= mode.replicatedJob.totalCompletions;
  }
  if (s.tasks.some((t) => runnable(t) && !upToDate(t, service))) return false;
  const cur = current(s);
  if (isJob(service))
    return cur.length > 0 && cur.every((t) => t.status.state === TaskState.COMPLETE);
  // A global service converges once it has tasks (none yet: the orchestrator has not run, or
  // no node is eligible, which the timeout then reports).
  const desired = "replicated" in mode ? mode.replicated.replicas : Math.max(1, cur.length);
  return cur.length === desired && cur.every((t) => t.status.state === TaskState.RUNNING);
}

function failed(s: Snapshot, o: ConvergeOptions): string | undefined {
  const { service } = s;
  const st = service.updateStatus;
  if (st && st.specVersion === service.specVersion) {
    const stopped =
      st.state === "paused" ||
      st.state === "rollback_paused" ||
      (st.state === "rollback_started" && !o.rollback);
    if (stopped) return withCause(st.message, s);
  }
  if (service.spec.taskTemplate.restartPolicy.condition !== "none") return undefined;
  const dead = s.tasks.find(
    (t) =>
      upToDate(t, service) &&
      (t.status.state === TaskState.FAILED || t.status.state === TaskState.REJECTED),
  );
  return dead ? `task ${slotName(dead)} ${dead.stateName}: ${taskWhy(dead)}` : undefined;
}

/** An update status names the task that failed by id; add what that task said. */
function withCause(message: string, s: Snapshot): string {
  const t = s.tasks.find((x) => x.status.state >= TaskState.FAILED && message.includes(x.id));
  return t ? `${message} (task ${slotName(t)} ${t.stateName}: ${taskWhy(t)})` : message;
}

function taskWhy(t: TaskView): string {
  return t.status.err || t.status.message || t.stateName;
}

function slotName(t: TaskView): string {
  return t.slot > 0 ? String(t.slot) : t.nodeId.slice(0, 12);
}

function pendingReasons(s: Snapshot): string[] {
  const out = new Set<string>();
  for (const t of current(s)) {
    if (t.status.state === TaskState.RUNNING) continue;
    out.add(`task ${slotName(t)} ${t.stateName}: ${taskWhy(t)}`);
  }
  const failedTask = s.tasks.find(
    (t) => upToDate(t, s.service) && t.status.state >= TaskState.FAILED,
  );
  if (failedTask) out.add(`last failure: ${taskWhy(failedTask)}`);
  return [...out].slice(0, 5);
}

const STEPS: readonly number[] = statesThroughRunning;

function bar(state: number): string {
  const i = STEPS.indexOf(state);
  const done = i < 0 ? BAR : Math.round(((i + 1) / STEPS.length) * BAR);
  return `[${"=".repeat(Math.max(0, done - 1))}>${" ".repeat(BAR - done)}]`;
}

/** One line per slot (replicated) or node (global), keyed so changes can be detected. */
function progress(s: Snapshot): Map<string, string> {
  const lines = new Map<string, string>();
  const live = current(s);
  // A slot whose task of this spec failed and was not replaced (restart condition none, or
  // not yet) shows that task, so the display ends on the failure it explains.
  const held = new Set(live.map((t) => `${t.slot}/${t.slot > 0 ? "" : t.nodeId}`));
  const dead = new Map<string, TaskView>();
  for (const t of s.tasks) {
    const k = `${t.slot}/${t.slot > 0 ? "" : t.nodeId}`;
    if (held.has(k) || runnable(t) || !upToDate(t, s.service)) continue;
    if (t.status.state !== TaskState.FAILED && t.status.state !== TaskState.REJECTED) continue;
    if (!dead.has(k) || dead.get(k)!.createdAt < t.createdAt) dead.set(k, t);
  }
  const cur = [...live, ...dead.values()].sort(
    (a, b) => a.slot - b.slot || (a.nodeId < b.nodeId ? -1 : 1),
  );
  const total =
    "replicated" in s.service.spec.mode ? s.service.spec.mode.replicated.replicas : cur.length;
  const running = cur.filter((t) => t.status.state === TaskState.RUNNING).length;
  lines.set("overall", `overall progress: ${running} out of ${total} tasks`);
  for (const t of cur) {
    const key = t.slot > 0 ? `${t.slot}/${total}` : t.nodeId.slice(0, 12);
    const state = t.stateName;
    // A pending task's message is the scheduler's explanation; later ones are mere progress.
    const waiting =
      t.status.state <= TaskState.PENDING && t.status.message ? `: ${t.status.message}` : "";
    const failedNote = t.status.state >= TaskState.FAILED ? `: ${taskWhy(t)}` : "";
    lines.set(key, `${key}: ${state.padEnd(9)} ${bar(t.status.state)}${waiting}${failedNote}`);
  }
  return lines;
}

function render(c: CliContext, lines: Map<string, string>, shown: Map<string, string>): void {
  if (c.io.isTTY) {
    const up = shown.size > 0 ? `\x1b[${shown.size}A\x1b[J` : "";
    shown.clear();
    for (const [k, v] of lines) shown.set(k, v);
    c.io.out(up + [...lines.values()].join("\n"));
    return;
  }
  for (const [k, v] of lines) {
    if (shown.get(k) === v) continue;
    shown.set(k, v);
    c.io.out(v);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
