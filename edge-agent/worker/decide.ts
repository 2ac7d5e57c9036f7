// The worker's decisions, pure: given a task (desired and reported state), the container seen
// for it and whether a manager is reachable, the one next step. No I/O, no clock reads: the
// caller passes `now`. The worker's loop executes steps; tests check decisions by tables.

import { isTerminal, TaskState, type TaskStateValue } from "../../core/model/task-state.ts";
import type { RestartPolicy } from "../../core/model/types.ts";
import type { ContainerInfo } from "../executor/executor.ts";

/** online: a manager answered on the current connection. unknown: not connected, not yet for
 * long. offline: no manager for longer than the agent's offline threshold. */
export type Connectivity = "online" | "unknown" | "offline";

export type Step =
  | { kind: "none" }
  | { kind: "report"; state: TaskStateValue; message: string; exitCode?: number }
  /** Make sure the image is present (pull if not) and create the container; then READY. */
  | { kind: "prepare" }
  /** Start the created container; then STARTING. */
  | { kind: "start" }
  /** Stop the container (grace period); then report `after`, if given. */
  | { kind: "stop"; after?: TaskStateValue; message: string }
  /** Offline autonomy: start the exited container again; the task stays RUNNING. */
  | { kind: "restart"; message: string };

export type RestartVerdict =
  | { kind: "now" }
  | { kind: "later"; atMs: number }
  | { kind: "never"; reason: string };

export interface StepInput {
  desiredState: TaskStateValue;
  state: TaskStateValue;
  container: ContainerInfo | undefined;
  hasHealthcheck: boolean;
  connectivity: Connectivity;
  /** Only consulted for an exited container of a started task while offline. */
  restart: RestartVerdict;
}

const NONE: Step = { kind: "none" };

/** Swarm's words for how a container ended. */
export function exitStep(code: number | undefined, suffix = ""): Step {
  if (code === 0)
    return { kind: "report", state: TaskState.COMPLETE, message: `finished${suffix}`, exitCode: 0 };
  const message = `task: non-zero exit (${code ?? "unknown"})${suffix}`;
  return code === undefined
    ? { kind: "report", state: TaskState.FAILED, message }
    : { kind: "report", state: TaskState.FAILED, message, exitCode: code };
}

/** Whether an exited container may be started again, per its restart policy. */
export function restartVerdict(
  policy: RestartPolicy,
  exitCode: number | undefined,
  finishedAt: number,
  restartsAt: readonly number[],
  now: number,
): RestartVerdict {
  if (policy.condition === "none") return { kind: "never", reason: "restart condition is none" };
  if (policy.condition === "on-failure" && exitCode === 0) {
    return { kind: "never", reason: "exited 0 with restart condition on-failure" };
  }
  if (policy.maxAttempts > 0) {
    const since = policy.windowMs > 0 ? now - policy.windowMs : Number.NEGATIVE_INFINITY;
    const used = restartsAt.filter((t) => t > since).length;
    if (used >= policy.maxAttempts) {
      return { kind: "never", reason: `restart policy allows ${policy.maxAttempts} attempts` };
    }
  }
  const at = finishedAt + policy.delayMs;
  return at > now ? { kind: "later", atMs: at } : { kind: "now" };
}

function shutdownStep(c: ContainerInfo | undefined): Step {
  if (c && (c.state === "running" || c.state === "paused")) {
    return { kind: "stop", after: TaskState.SHUTDOWN, message: "shutdown" };
  }
  const s: Step = { kind: "report", state: TaskState.SHUTDOWN, message: "shutdown" };
  return c?.exitCode !== undefined ? { ...s, exitCode: c.exitCode } : s;
}

function withoutContainer(state: TaskStateValue): Step {
  if (state < TaskState.ACCEPTED)
    return { kind: "report", state: TaskState.ACCEPTED, message: "accepted" };
  if (state < TaskState.PREPARING)
    return { kind: "report", state: TaskState.PREPARING, message: "preparing" };
  if (state === TaskState.PREPARING) return { kind: "prepare" };
  return { kind: "report", state: TaskState.FAILED, message: "container removed outside fleet" };
}

function running(i: StepInput, c: ContainerInfo): Step {
  const healthy = !i.hasHealthcheck || c.health === "healthy";
  if (c.health === "unhealthy") {
    // Offline, an unhealthy container is stopped and then restarted per its policy.
    if (i.connectivity === "offline") return { kind: "stop", message: "unhealthy container" };
    return { kind: "stop", after: TaskState.FAILED, message: "unhealthy container" };
  }
  if (i.state < TaskState.STARTING) {
    // Adoption: the container already runs (the agent restarted); do not recreate it.
    return healthy
      ? { kind: "report", state: TaskState.RUNNING, message: "adopted running container" }
      : {
          kind: "report",
          state: TaskState.STARTING,
          message: "adopted container, awaiting health",
        };
  }
  if (i.state === TaskState.STARTING && healthy) {
    return { kind: "report", state: TaskState.RUNNING, message: "started" };
  }
  return NONE;
}

function exited(i: StepInput, c: ContainerInfo): Step {
  if (i.state < TaskState.STARTING) {
    if (c.startedAt === 0 && c.finishedAt === 0)
      return i.state < TaskState.READY
        ? { kind: "report", state: TaskState.READY, message: "adopted prepared container" }
        : { kind: "start" };
    return exitStep(c.exitCode, " (found after an agent restart)");
  }
  if (i.connectivity === "online") return exitStep(c.exitCode);
  if (i.connectivity === "unknown") return NONE;
  switch (i.restart.kind) {
    case "now":
      return {
        kind: "restart",
        message: `restarted by the agent while offline (exit ${c.exitCode})`,
      };
    case "later":
      return NONE;
    case "never":
      return exitStep(c.exitCode, `; not restarted offline: ${i.restart.reason}`);
  }
}

/** The next step for one task. */
export function nextStep(i: StepInput): Step {
  const c = i.container;
  if (isTerminal(i.state)) {
    // Finished: the manager decides what comes next; only a stray running container is stopped.
    return c?.state === "running" ? { kind: "stop", message: "task already finished" } : NONE;
  }
  if (i.desiredState > TaskState.RUNNING) return shutdownStep(c);
  if (!c) return withoutContainer(i.state);
  switch (c.state) {
    case "running":
    case "paused":
      return running(i, c);
    case "created":
      if (i.state < TaskState.READY)
        return { kind: "report", state: TaskState.READY, message: "adopted prepared container" };
      if (i.desiredState < TaskState.RUNNING) return NONE;
      return i.state === TaskState.READY
        ? { kind: "start" }
        : { kind: "report", state: TaskState.FAILED, message: "container did not start" };
    case "exited":
    case "dead":
      if (i.state === TaskState.READY && i.desiredState < TaskState.RUNNING) return NONE;
      return exited(i, c);
    default:
      return NONE;
  }
}

/**
 * The state a task goes to when executing its step failed; undefined: leave it, the next pass
 * retries. Only an unreachable engine is worth retrying; the engine's own refusals fail the
 * task (REJECTED before it started, FAILED after). Failed stops and restarts are retried.
 */
export function failedStepState(
  step: Step,
  state: TaskStateValue,
  engineDown: boolean,
): TaskStateValue | undefined {
  if (engineDown || step.kind === "stop" || step.kind === "restart") return undefined;
  if (state >= TaskState.COMPLETE) return undefined;
  return state < TaskState.STARTING ? TaskState.REJECTED : TaskState.FAILED;
}
