import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultRestartPolicy } from "../model/defaults.ts";
import { makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import type { RestartPolicy } from "../model/types.ts";
import { restartVerdict } from "./restart.ts";
import { Harness } from "./testing/harness.ts";

const status = (state: number) => ({ status: { state, timestamp: 0, message: "" } }) as never;
const policy = (p: Partial<RestartPolicy>): RestartPolicy => ({ ...defaultRestartPolicy, ...p });

test("restart verdicts follow the condition, attempts and job completion", () => {
  const failed = status(TaskState.FAILED);
  const done = status(TaskState.COMPLETE);
  assert.equal(restartVerdict(policy({ condition: "any" }), done, false, 0), "restart");
  assert.equal(restartVerdict(policy({ condition: "any" }), done, true, 0), "finish");
  assert.equal(restartVerdict(policy({ condition: "on-failure" }), failed, false, 0), "restart");
  assert.equal(restartVerdict(policy({ condition: "on-failure" }), done, false, 0), "finish");
  assert.equal(restartVerdict(policy({ condition: "none" }), failed, false, 0), "finish");
  assert.equal(restartVerdict(policy({ maxAttempts: 3 }), failed, false, 2), "restart");
  assert.equal(restartVerdict(policy({ maxAttempts: 3 }), failed, false, 3), "finish");
  assert.equal(restartVerdict(policy({ maxAttempts: 0 }), failed, false, 99), "restart");
});

function crashingService(h: Harness, p: Partial<RestartPolicy>) {
  h.createService("web", {
    mode: { replicated: { replicas: 1 } },
    taskTemplate: makeTemplate({ containerSpec: { image: "bad" }, restartPolicy: policy(p) }),
  });
}

test("a failed task is replaced in its slot after the delay; the old one is shut down", () => {
  const h = new Harness({ seed: 11, faults: { badImages: new Set(["bad"]) } });
  crashingService(h, { condition: "on-failure", delayMs: 2_000 });
  h.runUntil(() => h.tasks("web").some((t) => t.status.state === TaskState.FAILED), 5_000);
  const failedAt = h.nowMs;
  const first = h.tasks("web").find((t) => t.status.state === TaskState.FAILED)!;
  h.runFor(1_500);
  assert.equal(h.tasks("web").length, 1, "no restart before the delay");
  h.runUntil(() => h.tasks("web").length === 2, 1_000, "restart after the delay");
  assert.ok(h.nowMs - failedAt >= 2_000);
  const old = h.tasks("web").find((t) => t.id === first.id)!;
  const next = h.tasks("web").find((t) => t.id !== first.id)!;
  assert.equal(old.desiredState, TaskState.SHUTDOWN);
  assert.equal(next.slot, first.slot);
  assert.equal(next.desiredState, TaskState.RUNNING);
});

test("max attempts within the window stops restarts; the slot stays filled", () => {
  const h = new Harness({ seed: 12, faults: { badImages: new Set(["bad"]) } });
  crashingService(h, { condition: "any", delayMs: 100, maxAttempts: 3, windowMs: 60_000 });
  h.runFor(10_000);
  const tasks = h.tasks("web");
  assert.equal(tasks.length, 4, "the first run and 3 restarts");
  const last = tasks.find((t) => t.desiredState <= TaskState.COMPLETE)!;
  assert.equal(last.desiredState, TaskState.COMPLETE, "given up: COMPLETE holds the slot");
  assert.equal(h.slots("web").size, 1);
  h.runFor(5_000);
  assert.equal(h.tasks("web").length, 4, "the replicated loop does not refill a given-up slot");
});

test("attempts outside the window do not count", () => {
  const run = (windowMs: number) => {
    const h = new Harness({ seed: 13, faults: { badImages: new Set(["bad"]) } });
    crashingService(h, { condition: "any", delayMs: 5_000, maxAttempts: 2, windowMs });
    h.runFor(40_000);
    return h;
  };
  // One restart per ~5.5 s: a 5 s window never holds 2 of them, a 60 s window does.
  const short = run(5_000);
  // Still restarting: a runnable task, and history capped at the cluster's limit (5) + 1.
  assert.equal(short.runnable("web").length, 1);
  assert.equal(short.tasks("web").length, 6);
  const long = run(60_000);
  assert.equal(long.tasks("web").length, 3, "gave up after 2 restarts");
});

test("condition none: a task that exits is not restarted", () => {
  const h = new Harness({ seed: 14, faults: { badImages: new Set(["bad"]) } });
  crashingService(h, { condition: "none" });
  h.runFor(5_000);
  const tasks = h.tasks("web");
  assert.equal(tasks.length, 1);
  assert.equal(tasks[0]!.desiredState, TaskState.COMPLETE);
});

test("a crash of a running task restarts it (condition any, default delay)", () => {
  const h = new Harness({ seed: 15 });
  h.createService("web", { mode: { replicated: { replicas: 2 } } });
  h.runUntil(() => h.running("web").length === 2, 5_000);
  const victim = h.running("web")[0]!;
  h.store.update((tx) => {
    const t = tx.get("tasks", victim.id)!;
    tx.update("tasks", { ...t, status: { ...t.status, state: TaskState.FAILED, exitCode: 137 } });
  });
  h.runFor(4_000);
  assert.equal(h.running("web").length, 1, "default 5 s delay not over");
  h.runUntil(() => h.running("web").length === 2, 5_000, "restarted after the delay");
  assert.ok(h.running("web").some((t) => t.slot === victim.slot && t.id !== victim.id));
});
