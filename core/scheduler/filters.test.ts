import assert from "node:assert/strict";
import { test } from "node:test";
import { TaskState } from "../model/task-state.ts";
import { schedule } from "./schedule.ts";
import {
  CPU,
  GB,
  makeNode,
  makePending,
  makeService,
  makeTask,
  makeTemplate,
  makeView,
  type NodeOpts,
  type TemplateOpts,
} from "./testing.ts";

/** Schedules one task of `svc` onto the given nodes; returns its node id or its message. */
function placeOne(nodes: NodeOpts[], t: TemplateOpts, extra: Parameters<typeof makeView>[1] = []) {
  const view = makeView(
    nodes.map((o, i) => makeNode(`n${i}`, o)),
    [...extra, ...makePending("svc", 1, makeTemplate(t))],
    [makeService("svc", [{ publishedPort: 8080 }]), makeService("web", [{ publishedPort: 80 }])],
  );
  const plan = schedule(view, { seed: 1 });
  return plan.assignments.get("svc.1") ?? plan.pending.get("svc.1")!;
}

const running = (id: string, serviceId: string, nodeId: string, t: TemplateOpts = {}) =>
  makeTask(id, serviceId, { nodeId, state: TaskState.RUNNING, template: makeTemplate(t) });

test("ready and active: down, disconnected, paused and drained nodes are rejected", () => {
  const msg = placeOne(
    [
      { state: "down" },
      { state: "disconnected" },
      { availability: "pause" },
      { availability: "drain" },
    ],
    {},
  );
  assert.equal(
    msg,
    "no suitable node (node not ready on 2 nodes; node paused or drained on 2 nodes)",
  );
  assert.equal(placeOne([{ state: "down" }, {}], {}), "n1");
});

test("resources: reservations minus what active tasks on the node already reserve", () => {
  const tasks = [
    running("a", "other", "n0", { memoryBytes: 3 * GB }),
    running("b", "other", "n1", { nanoCPUs: 3.5 * CPU }),
    // Terminal and unassigned tasks reserve nothing.
    makeTask("c", "other", {
      nodeId: "n2",
      state: TaskState.FAILED,
      template: makeTemplate({ memoryBytes: 4 * GB }),
    }),
  ];
  const want = { memoryBytes: 2 * GB, nanoCPUs: 1 * CPU };
  assert.equal(placeOne([{}, {}, {}], want, tasks), "n2");
  assert.equal(
    placeOne([{}, {}], want, tasks),
    "no suitable node (insufficient memory on 1 node; insufficient cpu on 1 node)",
  );
});

test("resources: limits are not reservations", () => {
  // makeTemplate sets limits of 64GB on every task; a 4GB node still takes them.
  assert.equal(placeOne([{}], {}), "n0");
});

test("platform: aliases match (x86_64 = amd64, aarch64 = arm64, armhf = arm/v7)", () => {
  const nodes: NodeOpts[] = [{ arch: "x86_64" }, { arch: "aarch64" }, { arch: "armhf" }];
  assert.equal(placeOne(nodes, { platforms: [{ os: "linux", arch: "amd64" }] }), "n0");
  assert.equal(placeOne(nodes, { platforms: [{ os: "linux", arch: "arm64" }] }), "n1");
  assert.equal(placeOne(nodes, { platforms: [{ os: "linux", arch: "arm", variant: "v7" }] }), "n2");
  assert.equal(
    placeOne(nodes, { platforms: [{ os: "linux", arch: "arm", variant: "v6" }] }),
    "no suitable node (unsupported platform on 3 nodes)",
  );
});

test("constraints: each node is counted under the first constraint it fails", () => {
  const nodes: NodeOpts[] = [
    { labels: { storage: "hdd" } },
    { labels: { storage: "ssd" }, hostname: "core-1" },
    { labels: { storage: "SSD" }, hostname: "edge-1" },
  ];
  assert.equal(
    placeOne(nodes, { constraints: ["node.labels.storage==ssd", "node.hostname ~= edge-*"] }),
    "n2",
  );
  assert.equal(
    placeOne(nodes, { constraints: ["node.labels.storage==ssd", "node.hostname ~= x-*"] }),
    "no suitable node (constraint node.labels.storage==ssd not satisfied on 1 node; " +
      "constraint node.hostname ~= x-* not satisfied on 2 nodes)",
  );
});

test("host ports: a published host port in use on a node rejects it", () => {
  const tasks = [running("w", "svc", "n0"), running("x", "web", "n1")];
  // n0 runs a task of svc, which publishes 8080; n1 runs web (port 80): no conflict there.
  assert.equal(placeOne([{}, {}], {}, tasks), "n1");
  assert.equal(placeOne([{}], {}, tasks), "no suitable node (host port 8080/tcp in use on 1 node)");
});

test("host ports: one task of a group per node", () => {
  const view = makeView([makeNode("n0"), makeNode("n1")], makePending("svc", 3, makeTemplate()), [
    makeService("svc", [{ publishedPort: 8080, protocol: "udp" }]),
  ]);
  const plan = schedule(view, { seed: 3 });
  assert.deepEqual([...plan.assignments.values()].sort(), ["n0", "n1"]);
  assert.equal(
    plan.pending.get("svc.3"),
    "no suitable node (host port 8080/udp in use on 2 nodes)",
  );
});

test("max replicas per node counts the service's running tasks and new placements", () => {
  const tasks = [running("r", "svc", "n0")];
  assert.equal(placeOne([{}, {}], { maxReplicasPerNode: 1 }, tasks), "n1");
  const view = makeView(
    [makeNode("n0"), makeNode("n1")],
    [...tasks, ...makePending("svc", 4, makeTemplate({ maxReplicasPerNode: 2 }))],
  );
  const plan = schedule(view, { seed: 1 });
  const per = new Map<string, number>();
  for (const n of plan.assignments.values()) per.set(n, (per.get(n) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(per), { n0: 1, n1: 2 });
  assert.equal(
    plan.pending.get("svc.4"),
    "no suitable node (max replicas per node (2) reached on 2 nodes)",
  );
});

test("a full node is explained by what filled it", () => {
  const nodes = [makeNode("n0", { memoryBytes: 3 * GB }), makeNode("n1", { state: "down" })];
  const plan = schedule(makeView(nodes, makePending("svc", 4, makeTemplate({ memoryBytes: GB }))), {
    seed: 1,
  });
  assert.deepEqual([...plan.assignments.values()], ["n0", "n0", "n0"]);
  assert.equal(
    plan.pending.get("svc.4"),
    "no suitable node (node not ready on 1 node; insufficient memory on 1 node)",
  );
});

test("no nodes at all, and an invalid constraint, are explained too", () => {
  assert.equal(placeOne([], {}), "no suitable node (no nodes in the cluster)");
  assert.match(
    placeOne([{}], { constraints: ["node.labels.zone=a"] }),
    /^invalid placement: .*did you mean `node.labels.zone==a`/,
  );
  assert.match(placeOne([{}], { spread: ["node.label.zone"] }), /did you mean `node.labels.zone`/);
});

test("a published port of 0 is not a fixed host port", () => {
  const view = makeView([makeNode("n0")], makePending("svc", 3, makeTemplate()), [
    makeService("svc", [{ publishedPort: 0 }]),
  ]);
  assert.equal(schedule(view, { seed: 1 }).assignments.size, 3);
});

test("a long explanation lists the first reasons in pipeline order, then how many more", () => {
  const constraints = Array.from({ length: 10 }, (_, i) => `node.labels.k${i}==yes`);
  // Node i has labels k0..k(i-1), so it fails constraint i: ten distinct reasons, plus one down.
  const nodes: NodeOpts[] = Array.from({ length: 10 }, (_, i) => ({
    labels: Object.fromEntries(Array.from({ length: i }, (_, j) => [`k${j}`, "yes"])),
  }));
  const msg = placeOne([{ state: "down" }, ...nodes], { constraints });
  const parts = msg.replace(/^no suitable node \(|\)$/g, "").split("; ");
  assert.equal(parts.length, 9);
  assert.equal(parts[0], "node not ready on 1 node");
  assert.equal(parts[1], "constraint node.labels.k0==yes not satisfied on 1 node");
  assert.equal(parts[7], "constraint node.labels.k6==yes not satisfied on 1 node");
  assert.equal(parts[8], "and 3 more reasons");
});
