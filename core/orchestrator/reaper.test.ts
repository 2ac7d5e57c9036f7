import assert from "node:assert/strict";
import { test } from "node:test";
import { makeTask, makeTemplate } from "../model/fixtures.ts";
import { TaskState, type TaskStateValue } from "../model/task-state.ts";
import type { Task } from "../model/types.ts";
import { toReap } from "./reaper.ts";
import { Harness } from "./testing/harness.ts";

function dead(id: string, createdAt: number, state: TaskStateValue, desired: TaskStateValue): Task {
  return makeTask(id, "s", {
    createdAt,
    nodeId: "n1",
    desiredState: desired,
    status: { state, timestamp: 0, message: "" },
  });
}

test("toReap keeps the newest dead tasks up to the limit, and never a live one", () => {
  const slot = [
    dead("a", 1, TaskState.FAILED, TaskState.SHUTDOWN),
    dead("b", 2, TaskState.FAILED, TaskState.SHUTDOWN),
    dead("c", 3, TaskState.FAILED, TaskState.SHUTDOWN),
    dead("d", 4, TaskState.RUNNING, TaskState.SHUTDOWN), // told to stop, not stopped yet
    dead("e", 5, TaskState.RUNNING, TaskState.RUNNING),
  ];
  const ids = (ts: Task[]) => ts.map((t) => t.id).sort();
  assert.deepEqual(ids(toReap(slot, 2, () => true)), ["a"]);
  assert.deepEqual(ids(toReap(slot, 0, () => true)), ["a", "b", "c"]);
  assert.deepEqual(ids(toReap(slot, 0, () => false)), ["a", "b", "c", "d"], "node gone");
  const removed = [dead("r", 9, TaskState.SHUTDOWN, TaskState.REMOVE)];
  assert.deepEqual(ids(toReap(removed, 5, () => true)), ["r"], "REMOVE goes at once");
});

test("history per slot follows cluster.spec.taskHistoryLimit", () => {
  const h = new Harness({ seed: 61, taskHistoryLimit: 2, faults: { badImages: new Set(["bad"]) } });
  h.createService("web", {
    mode: { replicated: { replicas: 2 } },
    taskTemplate: makeTemplate({
      containerSpec: { image: "bad" },
      restartPolicy: { condition: "any", delayMs: 200, maxAttempts: 0, windowMs: 0 },
    }),
  });
  h.runFor(20_000);
  for (const slot of [1, 2]) {
    const tasks = h.tasks("web").filter((t) => t.slot === slot);
    assert.equal(tasks.length, 3, `slot ${slot}: 1 current + 2 history`);
  }
});

test("a removed service's tasks are stopped and then deleted", () => {
  const h = new Harness({ seed: 62 });
  h.createService("web", { mode: { replicated: { replicas: 3 } } });
  h.createService("agent", { mode: { global: {} } });
  h.runUntil(() => h.running("web").length + h.running("agent").length === 6, 5_000);
  h.deleteService("web");
  assert.ok(h.tasks("web").every((t) => t.desiredState === TaskState.REMOVE));
  h.runFor(2_000);
  assert.equal(h.tasks("web").length, 0);
  assert.equal(h.running("agent").length, 3, "other services untouched");
});

test("a task stuck on a down node is kept until it stops or its node is removed", () => {
  const h = new Harness({ seed: 63 });
  h.createService("web", { mode: { replicated: { replicas: 1 } } });
  h.runUntil(() => h.running("web").length === 1, 5_000);
  const [t] = h.running("web");
  h.setNodeState(t!.nodeId, "down");
  h.deleteService("web");
  h.runFor(5_000);
  assert.deepEqual(
    h.tasks("web").map((x) => x.id),
    [t!.id],
    "kept: its agent must stop it",
  );
  h.removeNode(t!.nodeId);
  assert.equal(h.tasks("web").length, 0);
});
