import assert from "node:assert/strict";
import { test } from "node:test";
import { makeTask } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import type { Task } from "../model/types.ts";
import { pickVictims, ReplicatedLoop } from "./replicated.ts";
import { SchedulingLoop } from "./scheduling.ts";
import { Harness } from "./testing/harness.ts";

const replicas = (n: number) => ({ mode: { replicated: { replicas: n } } });

test("a replicated service gets slots 1..N, scheduled and running", () => {
  const h = new Harness({ seed: 1 });
  h.createService("web", replicas(5));
  h.runUntil(() => h.running("web").length === 5, 5_000, "5 running");
  assert.deepEqual([...h.slots("web")].sort(), [1, 2, 3, 4, 5]);
  const spread = [...h.spread("web").values()].sort();
  assert.deepEqual(spread, [1, 2, 2], "spread over the 3 nodes");
});

test("scale up opens the lowest free slots; scale down marks whole slots REMOVE", () => {
  const h = new Harness({ seed: 2 });
  h.createService("web", replicas(2));
  h.runUntil(() => h.running("web").length === 2, 5_000);
  h.updateService("web", (s) => ({ ...s, ...replicas(4) }));
  h.runUntil(() => h.running("web").length === 4, 5_000);
  assert.deepEqual([...h.slots("web")].sort(), [1, 2, 3, 4]);
  h.updateService("web", (s) => ({ ...s, ...replicas(1) }));
  h.runFor(2_000);
  assert.equal(h.runnable("web").length, 1);
  assert.equal(h.slots("web").size, 1);
  // Removed tasks were stopped by their agents and then deleted by the reaper.
  assert.equal(h.tasks("web").filter((t) => t.desiredState === TaskState.REMOVE).length, 0);
});

test("the loop alone creates PENDING tasks and leaves placement to the scheduler", () => {
  const h = new Harness({ seed: 3, loops: (s, seed) => [new ReplicatedLoop(s, { seed })] });
  h.createService("web", replicas(3));
  const tasks = h.tasks("web");
  assert.equal(tasks.length, 3);
  for (const t of tasks) {
    assert.equal(t.status.state, TaskState.PENDING);
    assert.equal(t.nodeId, "");
    assert.equal(t.desiredState, TaskState.RUNNING);
    assert.equal(t.specVersion, 1);
  }
  h.settle();
  assert.equal(h.tasks("web").length, 3, "a second pass changes nothing");
});

test("the scheduling loop assigns, or explains why not", () => {
  const h = new Harness({
    seed: 4,
    loops: (s, seed) => [new ReplicatedLoop(s, { seed }), new SchedulingLoop(s, { seed })],
  });
  h.agentsOn = false;
  h.createService("web", replicas(2));
  for (const t of h.tasks("web")) {
    assert.equal(t.status.state, TaskState.ASSIGNED);
    assert.notEqual(t.nodeId, "");
  }
  h.createService("gpu", {
    ...replicas(1),
    taskTemplate: {
      ...h.service("web").spec.taskTemplate,
      placement: {
        constraints: ["node.labels.gpu==yes"],
        preferences: [],
        maxReplicasPerNode: 0,
        platforms: [],
      },
    },
  });
  const [t] = h.tasks("gpu");
  assert.equal(t!.status.state, TaskState.PENDING);
  assert.match(t!.status.message, /no suitable node \(constraint node.labels.gpu==yes/);
  h.setLabels("n2", { gpu: "yes" });
  const [placed] = h.tasks("gpu");
  assert.equal(placed!.status.state, TaskState.ASSIGNED, "a node change re-runs placement");
  assert.equal(placed!.nodeId, "n2");
});

function running(slot: number, nodeId: string): Task {
  return makeTask(`t${slot}`, "s", {
    slot,
    nodeId,
    status: { state: TaskState.RUNNING, timestamp: 0, message: "" },
  });
}

test("scale down picks idle slots first, then the most loaded nodes", () => {
  const slots = new Map<number, Task[]>([
    [1, [running(1, "a")]],
    [2, [running(2, "a")]],
    [3, [running(3, "a")]],
    [4, [running(4, "b")]],
    [5, [running(5, "c")]],
    [6, [makeTask("t6", "s", { slot: 6 })]],
  ]);
  assert.deepEqual(pickVictims(slots, 1), [6]);
  assert.deepEqual(pickVictims(slots, 2), [6, 3]);
  assert.deepEqual(pickVictims(slots, 3), [6, 3, 2]);
  // a: 1 left, b: 1, c: 1 -> the highest slot among the tied nodes goes next.
  assert.deepEqual(pickVictims(slots, 4), [6, 3, 2, 5]);
});
