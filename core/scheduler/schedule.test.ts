import assert from "node:assert/strict";
import { test } from "node:test";
import { TaskState } from "../model/task-state.ts";
import { needsScheduling, schedule } from "./schedule.ts";
import {
  GB,
  makeNode,
  makePending,
  makeService,
  makeTask,
  makeTemplate,
  makeView,
} from "./testing.ts";

test("only unassigned tasks that are still meant to run are scheduled", () => {
  const t = makeTemplate();
  const tasks = [
    makeTask("new", "svc", { state: TaskState.NEW, template: t }),
    makeTask("pending", "svc", { slot: 2, template: t }),
    makeTask("running", "svc", { slot: 3, nodeId: "n0", state: TaskState.RUNNING, template: t }),
    makeTask("stopping", "svc", { slot: 4, desiredState: TaskState.SHUTDOWN, template: t }),
  ];
  assert.deepEqual(tasks.map(needsScheduling), [true, true, false, false]);
  const plan = schedule(makeView([makeNode("n0")], tasks), { seed: 1 });
  assert.deepEqual([...plan.assignments.keys()].sort(), ["new", "pending"]);
  assert.equal(plan.pending.size, 0);
});

test("a pinned (global) task is checked against its own node only", () => {
  const t = makeTemplate({ constraints: ["node.labels.gpu"] });
  const nodes = [makeNode("n0", { labels: { gpu: "" } }), makeNode("n1"), makeNode("n2")];
  const tasks = ["n0", "n1", "gone"].map((nodeId) =>
    makeTask(`g.${nodeId}`, "g", { slot: 0, nodeId, template: t }),
  );
  const plan = schedule(makeView(nodes, tasks), { seed: 1 });
  assert.deepEqual(Object.fromEntries(plan.assignments), { "g.n0": "n0" });
  assert.deepEqual(Object.fromEntries(plan.pending), {
    "g.n1": "no suitable node (constraint node.labels.gpu not satisfied on 1 node)",
    "g.gone": "no suitable node (node gone not found)",
  });
});

test("pinned tasks go first and their reservations count for the groups after them", () => {
  const nodes = [makeNode("n0", { memoryBytes: 2 * GB })];
  const big = makeTemplate({ memoryBytes: 2 * GB });
  const tasks = [
    ...makePending("a-replicated", 1, big),
    makeTask("z-global", "z", { slot: 0, nodeId: "n0", template: big }),
  ];
  const plan = schedule(makeView(nodes, tasks), { seed: 1 });
  assert.equal(plan.assignments.get("z-global"), "n0");
  assert.equal(
    plan.pending.get("a-replicated.1"),
    "no suitable node (insufficient memory on 1 node)",
  );
});

test("groups by service and spec version; earlier groups' placements count for later ones", () => {
  const nodes = [makeNode("n0", { memoryBytes: 3 * GB }), makeNode("n1", { memoryBytes: 3 * GB })];
  const v1 = makeTemplate({ memoryBytes: GB });
  const v2 = makeTemplate({ memoryBytes: 2 * GB });
  const tasks = [
    ...makePending("svc", 2, v1),
    makeTask("svc.v2", "svc", { slot: 3, specVersion: 2, template: v2 }),
    makeTask("svc.v2b", "svc", { slot: 4, specVersion: 2, template: v2 }),
  ];
  const plan = schedule(makeView(nodes, tasks), { seed: 1 });
  // v1 puts one task on each node (fewest of the service), leaving 2GB on each for v2.
  assert.equal(plan.assignments.size, 4);
  const perNode = new Map<string, number>();
  for (const n of plan.assignments.values()) perNode.set(n, (perNode.get(n) ?? 0) + 1);
  assert.deepEqual([...perNode.values()], [2, 2]);
});

test("the plan does not depend on the order of the view's arrays", () => {
  const nodes = Array.from({ length: 20 }, (_, i) =>
    makeNode(`n${i}`, { labels: { zone: `z${i % 3}` } }),
  );
  const tasks = [
    ...makePending("a", 15, makeTemplate({ spread: ["node.labels.zone"] })),
    ...makePending("b", 9, makeTemplate({ memoryBytes: GB })),
  ];
  const one = schedule(makeView(nodes, tasks), { seed: 7 });
  const two = schedule(makeView(nodes, [...tasks].reverse()), { seed: 7 });
  assert.deepEqual(new Map([...two.assignments].sort()), new Map([...one.assignments].sort()));
});

test("the view is never mutated", () => {
  const deepFreeze = <T>(o: T): T => {
    if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
      Object.freeze(o);
      for (const v of Object.values(o)) deepFreeze(v);
    }
    return o;
  };
  const nodes = [makeNode("n0"), makeNode("n1", { labels: { zone: "a" } })];
  const tasks = [
    makeTask("r", "svc", { nodeId: "n0", state: TaskState.RUNNING }),
    ...makePending("svc", 5, makeTemplate({ spread: ["node.labels.zone"], memoryBytes: GB })),
  ];
  const view = makeView(nodes, tasks, [makeService("svc")]);
  const before = JSON.stringify({ nodes, tasks });
  deepFreeze(nodes);
  deepFreeze(tasks);
  const plan = schedule(view, { seed: 1 });
  assert.equal(plan.assignments.size + plan.pending.size, 5);
  assert.equal(JSON.stringify({ nodes, tasks }), before);
});

test("groups with different constraints never share a verdict; equal ones do, correctly", () => {
  const nodes = Array.from({ length: 6 }, (_, i) =>
    makeNode(`n${i}`, { labels: { zone: i % 2 === 0 ? "a" : "b" } }),
  );
  const inA = makeTemplate({ constraints: ["node.labels.zone==a"] });
  const inB = makeTemplate({ constraints: ["node.labels.zone==b"] });
  const tasks = [
    ...makePending("s1", 6, inA),
    ...makePending("s2", 6, inB),
    ...makePending("s3", 6, inA),
  ];
  const plan = schedule(makeView(nodes, tasks), { seed: 2 });
  assert.equal(plan.assignments.size, 18);
  for (const [task, node] of plan.assignments) {
    const even = Number(node.slice(1)) % 2 === 0;
    assert.equal(even, !task.startsWith("s2"), `${task} on ${node}`);
  }
});
