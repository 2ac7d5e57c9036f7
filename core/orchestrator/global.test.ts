import assert from "node:assert/strict";
import { test } from "node:test";
import { makeNode, makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import { Harness } from "./testing/harness.ts";

const global = { mode: { global: {} } } as const;

function onNodes(h: Harness, id: string): string[] {
  return h
    .runnable(id)
    .map((t) => t.nodeId)
    .sort();
}

test("one task per node, following joins and removals", () => {
  const h = new Harness({ seed: 21 });
  h.createService("agent", global);
  h.runUntil(() => h.running("agent").length === 3, 5_000);
  assert.deepEqual(onNodes(h, "agent"), ["n1", "n2", "n3"]);
  assert.ok(h.tasks("agent").every((t) => t.slot === 0));
  h.addNode(makeNode("n4"));
  h.runUntil(() => h.running("agent").length === 4, 5_000, "the new node gets a task");
  h.setNodeState("n2", "down");
  h.removeNode("n2");
  h.runFor(1_000);
  assert.deepEqual(onNodes(h, "agent"), ["n1", "n3", "n4"]);
  assert.ok(
    h.tasks("agent").every((t) => t.nodeId !== "n2"),
    "removed node's task reaped",
  );
});

test("constraints and platforms choose the nodes; label changes follow", () => {
  const nodes = [
    makeNode("a", { labels: { zone: "x" } }),
    makeNode("b", { labels: { zone: "y" } }),
    makeNode("c", { labels: { zone: "x" } }),
  ];
  const arm = makeNode("d", { labels: { zone: "x" } });
  nodes.push({
    ...arm,
    description: { ...arm.description, platform: { os: "linux", arch: "aarch64" } },
  });
  const h = new Harness({ seed: 22, nodes });
  h.createService("agent", {
    ...global,
    taskTemplate: makeTemplate({
      placement: {
        constraints: ["node.labels.zone==x"],
        platforms: [{ os: "linux", arch: "amd64" }],
      },
    }),
  });
  h.runFor(2_000);
  assert.deepEqual(onNodes(h, "agent"), ["a", "c"]);
  h.setLabels("a", { zone: "y" });
  h.setLabels("b", { zone: "x" });
  h.runFor(2_000);
  assert.deepEqual(onNodes(h, "agent"), ["b", "c"]);
  const onA = h.tasks("agent").filter((t) => t.nodeId === "a");
  assert.ok(
    onA.every((t) => t.status.state === TaskState.SHUTDOWN),
    "stopped on a",
  );
});

test("drain stops the task, active again restarts it; down and pause keep it", () => {
  const h = new Harness({ seed: 23 });
  h.createService("agent", global);
  h.runUntil(() => h.running("agent").length === 3, 5_000);
  h.setAvailability("n1", "drain");
  h.runFor(1_000);
  assert.deepEqual(onNodes(h, "agent"), ["n2", "n3"]);
  h.setAvailability("n1", "active");
  h.runUntil(() => h.running("agent").length === 3, 5_000);
  const before = h.runnable("agent").find((t) => t.nodeId === "n2")!;
  h.setNodeState("n2", "down");
  h.setAvailability("n3", "pause");
  h.runFor(120_000);
  const after = h.runnable("agent").find((t) => t.nodeId === "n2");
  assert.equal(after?.id, before.id, "a global task is never moved off a down node");
  assert.deepEqual(onNodes(h, "agent"), ["n1", "n2", "n3"]);
});

test("a node that joins down gets its task once ready", () => {
  const h = new Harness({ seed: 24 });
  h.createService("agent", global);
  h.addNode(makeNode("n9", { status: { state: "down" } }));
  h.runFor(1_000);
  assert.ok(!onNodes(h, "agent").includes("n9"));
  h.setNodeState("n9", "ready");
  h.runUntil(() => h.running("agent").length === 4, 5_000);
});

test("a global job runs once per node and again for a new spec version", () => {
  const h = new Harness({ seed: 25 });
  h.createService("once", { mode: { globalJob: {} } });
  h.runUntil(
    () => h.tasks("once").filter((t) => t.status.state === TaskState.COMPLETE).length === 3,
    5_000,
  );
  h.runFor(5_000);
  assert.equal(h.tasks("once").length, 3, "completed job tasks are not restarted");
  h.addNode(makeNode("n4"));
  h.runFor(3_000);
  assert.equal(h.tasks("once").filter((t) => t.nodeId === "n4").length, 1, "a new node runs it");
  h.updateService("once", (s) => ({ ...s, labels: { run: "2" } }));
  h.runUntil(
    () => h.tasks("once").filter((t) => t.status.state === TaskState.COMPLETE).length === 8,
    5_000,
    "second run on every node",
  );
});

test("a global job cut short by a drain runs again when the node is back", () => {
  const h = new Harness({ seed: 26, faults: { jobRunSteps: 50 } });
  h.createService("once", { mode: { globalJob: {} } });
  h.runUntil(() => h.running("once").length === 3, 5_000);
  h.setAvailability("n2", "drain");
  h.runFor(1_000);
  h.setAvailability("n2", "active");
  const done = () =>
    h
      .tasks("once")
      .filter((t) => t.status.state === TaskState.COMPLETE)
      .map((t) => t.nodeId);
  h.runUntil(() => done().length === 3, 20_000);
  assert.deepEqual(done().sort(), ["n1", "n2", "n3"]);
});
