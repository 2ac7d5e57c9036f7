import assert from "node:assert/strict";
import { test } from "node:test";
import { TaskState } from "../model/task-state.ts";
import type { Node } from "../model/types.ts";
import { schedule } from "./schedule.ts";
import { GB, makeNode, makePending, makeTask, makeTemplate, makeView } from "./testing.ts";

function countBy(nodes: readonly Node[], assigned: Iterable<string>, label: (n: Node) => string) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const out: Record<string, number> = {};
  for (const id of assigned) {
    const v = label(byId.get(id)!);
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}

const zone = (n: Node) => n.spec.labels.zone ?? "";

test("spread splits tasks evenly across label values, not across nodes", () => {
  // Zone a has 4 nodes, zone b has 1: per node ranking alone would put 4/5 of tasks in a.
  const nodes = [
    ...Array.from({ length: 4 }, (_, i) => makeNode(`a${i}`, { labels: { zone: "a" } })),
    makeNode("b0", { labels: { zone: "B" } }),
  ];
  const plan = schedule(
    makeView(nodes, makePending("svc", 10, makeTemplate({ spread: ["node.labels.zone"] }))),
    {
      seed: 4,
    },
  );
  assert.deepEqual(
    countBy(nodes, plan.assignments.values(), (n) => zone(n).toLowerCase()),
    { a: 5, b: 5 },
  );
});

test("spread counts the service's tasks already in each branch", () => {
  const nodes = [
    makeNode("a0", { labels: { zone: "a" } }),
    makeNode("b0", { labels: { zone: "b" } }),
  ];
  const running = [0, 1, 2].map((i) =>
    makeTask(`r${i}`, "svc", { nodeId: "a0", state: TaskState.RUNNING }),
  );
  const plan = schedule(
    makeView(nodes, [
      ...running,
      ...makePending("svc", 5, makeTemplate({ spread: ["node.labels.zone"] })),
    ]),
    { seed: 1 },
  );
  // Final: a = 3 + 1, b = 0 + 4.
  assert.deepEqual(countBy(nodes, plan.assignments.values(), zone), { a: 1, b: 4 });
});

test("nodes without the label form their own branch", () => {
  const nodes = [makeNode("a0", { labels: { zone: "a" } }), makeNode("x0"), makeNode("x1")];
  const plan = schedule(
    makeView(nodes, makePending("svc", 4, makeTemplate({ spread: ["node.labels.zone"] }))),
    {
      seed: 2,
    },
  );
  assert.deepEqual(countBy(nodes, plan.assignments.values(), zone), { a: 2, "": 2 });
});

test("a branch that runs out of capacity hands its share to the others", () => {
  const nodes = [
    makeNode("a0", { labels: { zone: "a" }, memoryBytes: 1 * GB }),
    makeNode("b0", { labels: { zone: "b" }, memoryBytes: 8 * GB }),
  ];
  const t = makeTemplate({ spread: ["node.labels.zone"], memoryBytes: GB });
  const plan = schedule(makeView(nodes, makePending("svc", 6, t)), { seed: 1 });
  assert.deepEqual(countBy(nodes, plan.assignments.values(), zone), { a: 1, b: 5 });
  assert.equal(plan.pending.size, 0);
});

test("several preferences nest: zone first, then rack within each zone", () => {
  const nodes: Node[] = [];
  for (const z of ["a", "b"]) {
    for (const r of z === "a" ? ["1", "2", "3"] : ["1"]) {
      for (let i = 0; i < 2; i++)
        nodes.push(makeNode(`${z}${r}${i}`, { labels: { zone: z, rack: r } }));
    }
  }
  const t = makeTemplate({ spread: ["node.labels.zone", "node.labels.rack"] });
  const plan = schedule(makeView(nodes, makePending("svc", 12, t)), { seed: 5 });
  const key = (n: Node) => `${n.spec.labels.zone}/${n.spec.labels.rack}`;
  assert.deepEqual(countBy(nodes, plan.assignments.values(), key), {
    "a/1": 2,
    "a/2": 2,
    "a/3": 2,
    "b/1": 6,
  });
});

test("spread works on any key, e.g. hw.storage or node.platform.arch", () => {
  const nodes = [
    makeNode("x0", { arch: "x86_64" }),
    makeNode("x1", { arch: "amd64" }),
    makeNode("p0", { arch: "aarch64" }),
  ];
  const plan = schedule(
    makeView(nodes, makePending("svc", 4, makeTemplate({ spread: ["node.platform.arch"] }))),
    { seed: 1 },
  );
  assert.deepEqual(
    countBy(nodes, plan.assignments.values(), (n) => (n.id.startsWith("x") ? "amd64" : "arm64")),
    { amd64: 2, arm64: 2 },
  );
});
