import assert from "node:assert/strict";
import { test } from "node:test";
import { TaskState as S, type TaskStateValue } from "../../core/model/task-state.ts";
import type { RestartPolicy } from "../../core/model/types.ts";
import type { ContainerInfo } from "../executor/executor.ts";
import {
  type Connectivity,
  failedStepState,
  nextStep,
  type RestartVerdict,
  restartVerdict,
} from "./decide.ts";

function c(state: ContainerInfo["state"], more: Partial<ContainerInfo> = {}): ContainerInfo {
  const ran = state === "created" ? 0 : 1;
  return {
    id: "c1",
    name: "n",
    image: "i",
    labels: {},
    state,
    health: "none",
    startedAt: ran,
    finishedAt: state === "exited" ? 2 : 0,
    ...(state === "exited" ? { exitCode: 0 } : {}),
    ...more,
  };
}

interface Row {
  name: string;
  desired?: TaskStateValue;
  state: TaskStateValue;
  container?: ContainerInfo;
  hc?: boolean;
  net?: Connectivity;
  restart?: RestartVerdict;
  want: string;
}

const rows: Row[] = [
  { name: "new task is accepted", state: S.ASSIGNED, want: "report ACCEPTED" },
  { name: "accepted task prepares", state: S.ACCEPTED, want: "report PREPARING" },
  { name: "preparing task pulls/creates", state: S.PREPARING, want: "prepare" },
  { name: "prepared container starts", state: S.READY, container: c("created"), want: "start" },
  {
    name: "desired READY stays prepared",
    desired: S.READY,
    state: S.READY,
    container: c("created"),
    want: "none",
  },
  {
    name: "started, no healthcheck: RUNNING",
    state: S.STARTING,
    container: c("running"),
    want: "report RUNNING",
  },
  {
    name: "started, health starting: wait",
    state: S.STARTING,
    container: c("running", { health: "starting" }),
    hc: true,
    want: "none",
  },
  {
    name: "started, healthy: RUNNING",
    state: S.STARTING,
    container: c("running", { health: "healthy" }),
    hc: true,
    want: "report RUNNING",
  },
  {
    name: "unhealthy online: stop then FAILED",
    state: S.RUNNING,
    container: c("running", { health: "unhealthy" }),
    hc: true,
    want: "stop FAILED",
  },
  {
    name: "unhealthy offline: stop, restart later",
    state: S.RUNNING,
    container: c("running", { health: "unhealthy" }),
    hc: true,
    net: "offline",
    want: "stop -",
  },
  { name: "running stays", state: S.RUNNING, container: c("running"), want: "none" },
  {
    name: "exit 0 online: COMPLETE",
    state: S.RUNNING,
    container: c("exited"),
    want: "report COMPLETE 0",
  },
  {
    name: "exit 3 online: FAILED",
    state: S.RUNNING,
    container: c("exited", { exitCode: 3 }),
    want: "report FAILED 3",
  },
  {
    name: "exit while briefly disconnected: wait",
    state: S.RUNNING,
    container: c("exited", { exitCode: 3 }),
    net: "unknown",
    want: "none",
  },
  {
    name: "exit offline, policy allows: restart",
    state: S.RUNNING,
    container: c("exited", { exitCode: 3 }),
    net: "offline",
    restart: { kind: "now" },
    want: "restart",
  },
  {
    name: "exit offline, delay pending: wait",
    state: S.RUNNING,
    container: c("exited", { exitCode: 3 }),
    net: "offline",
    restart: { kind: "later", atMs: 9 },
    want: "none",
  },
  {
    name: "exit offline, policy exhausted: FAILED",
    state: S.RUNNING,
    container: c("exited", { exitCode: 3 }),
    net: "offline",
    restart: { kind: "never", reason: "x" },
    want: "report FAILED 3",
  },
  { name: "container vanished while running: FAILED", state: S.RUNNING, want: "report FAILED" },
  {
    name: "adopt a running container after an agent restart",
    state: S.ASSIGNED,
    container: c("running"),
    want: "report RUNNING",
  },
  {
    name: "adopt a running container awaiting health",
    state: S.ACCEPTED,
    container: c("running", { health: "starting" }),
    hc: true,
    want: "report STARTING",
  },
  {
    name: "adopt a created container",
    state: S.ASSIGNED,
    container: c("created"),
    want: "report READY",
  },
  {
    name: "adopt a finished container: report its exit, do not rerun",
    state: S.ASSIGNED,
    container: c("exited", { exitCode: 0 }),
    want: "report COMPLETE 0",
  },
  {
    name: "shutdown a running task",
    desired: S.SHUTDOWN,
    state: S.RUNNING,
    container: c("running"),
    want: "stop SHUTDOWN",
  },
  {
    name: "shutdown an exited task",
    desired: S.SHUTDOWN,
    state: S.RUNNING,
    container: c("exited", { exitCode: 137 }),
    want: "report SHUTDOWN 137",
  },
  {
    name: "shutdown before start",
    desired: S.SHUTDOWN,
    state: S.ACCEPTED,
    want: "report SHUTDOWN",
  },
  { name: "finished stays finished", state: S.FAILED, container: c("exited"), want: "none" },
  {
    name: "finished with a stray running container",
    state: S.COMPLETE,
    container: c("running"),
    want: "stop -",
  },
  { name: "shutdown task stays", desired: S.SHUTDOWN, state: S.SHUTDOWN, want: "none" },
];

function show(s: ReturnType<typeof nextStep>): string {
  const name = (v: number) => Object.entries(S).find(([, x]) => x === v)![0];
  switch (s.kind) {
    case "report":
      return `report ${name(s.state)}${s.exitCode === undefined ? "" : ` ${s.exitCode}`}`;
    case "stop":
      return `stop ${s.after === undefined ? "-" : name(s.after)}`;
    default:
      return s.kind;
  }
}

for (const r of rows) {
  test(`nextStep: ${r.name}`, () => {
    const step = nextStep({
      desiredState: r.desired ?? S.RUNNING,
      state: r.state,
      container: r.container,
      hasHealthcheck: r.hc ?? false,
      connectivity: r.net ?? "online",
      restart: r.restart ?? { kind: "never", reason: "n/a" },
    });
    assert.equal(show(step), r.want);
  });
}

const policy = (p: Partial<RestartPolicy>): RestartPolicy => ({
  condition: "any",
  delayMs: 0,
  maxAttempts: 0,
  windowMs: 0,
  ...p,
});

test("restartVerdict follows condition, delay, attempts and window", () => {
  const v = (p: Partial<RestartPolicy>, code: number, history: number[], now = 1000) =>
    restartVerdict(policy(p), code, 500, history, now).kind;
  assert.equal(v({ condition: "none" }, 1, []), "never");
  assert.equal(v({ condition: "on-failure" }, 0, []), "never");
  assert.equal(v({ condition: "on-failure" }, 2, []), "now");
  assert.equal(v({ condition: "any" }, 0, []), "now");
  assert.equal(v({ delayMs: 1000 }, 1, []), "later");
  assert.equal(v({ delayMs: 400 }, 1, []), "now");
  assert.equal(v({ maxAttempts: 2 }, 1, [100, 200]), "never");
  assert.equal(v({ maxAttempts: 2, windowMs: 850 }, 1, [100, 200]), "now");
  assert.equal(v({ maxAttempts: 2, windowMs: 850 }, 1, [100, 200, 300]), "never");
});

test("a failed step: engine down, stop and restart retry; otherwise REJECTED before start, FAILED after", () => {
  assert.equal(failedStepState({ kind: "prepare" }, S.PREPARING, true), undefined);
  assert.equal(failedStepState({ kind: "stop", message: "x" }, S.RUNNING, false), undefined);
  assert.equal(failedStepState({ kind: "restart", message: "x" }, S.RUNNING, false), undefined);
  assert.equal(failedStepState({ kind: "prepare" }, S.PREPARING, false), S.REJECTED);
  assert.equal(failedStepState({ kind: "start" }, S.READY, false), S.REJECTED);
  assert.equal(failedStepState({ kind: "start" }, S.STARTING, false), S.FAILED);
  assert.equal(failedStepState({ kind: "start" }, S.COMPLETE, false), undefined);
});
