import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultUpdateConfig } from "../model/defaults.ts";
import { makeNode } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import type { ServiceSpec, UpdateConfig } from "../model/types.ts";
import { Harness } from "./testing/harness.ts";

const BAD = new Set(["bad"]);

function setup(seed: number, replicas: number, cfg: Partial<UpdateConfig>, nodes = 3) {
  const h = new Harness({ seed, nodes, faults: { badImages: BAD } });
  const updateConfig = { ...defaultUpdateConfig, monitorMs: 1_000, ...cfg };
  h.createService("web", {
    mode: { replicated: { replicas } },
    updateConfig,
    rollbackConfig: { ...updateConfig, failureAction: "pause" },
  });
  h.runUntil(() => h.running("web").length === replicas, 5_000);
  return h;
}

const image =
  (img: string) =>
  (s: ServiceSpec): ServiceSpec => ({
    ...s,
    taskTemplate: {
      ...s.taskTemplate,
      containerSpec: { ...s.taskTemplate.containerSpec, image: img },
    },
  });
const runningImages = (h: Harness) =>
  h
    .running("web")
    .map((t) => t.spec.containerSpec.image)
    .sort();
const state = (h: Harness) => h.service("web").updateStatus?.state;

function crash(h: Harness, id: string) {
  h.store.update((tx) => {
    const t = tx.get("tasks", id)!;
    tx.update("tasks", { ...t, status: { ...t.status, state: TaskState.FAILED, exitCode: 1 } });
  });
  h.settle();
}

test("stop-first rolls in batches of `parallelism`, `delayMs` apart, and completes", () => {
  const h = setup(71, 6, { parallelism: 2, delayMs: 3_000 });
  h.updateService("web", image("v2"));
  assert.equal(state(h), "updating");
  let maxInFlight = 0;
  let prev = 0;
  const batches: number[] = [];
  h.runUntil(
    () => {
      const tasks = h.tasks("web");
      const fresh = tasks.filter(
        (t) => t.spec.containerSpec.image === "v2" && t.desiredState <= TaskState.RUNNING,
      );
      const inFlight = fresh.filter((t) => t.status.state !== TaskState.RUNNING).length;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (fresh.length > prev) batches.push(h.nowMs);
      prev = fresh.length;
      return state(h) === "completed";
    },
    60_000,
    "update completes",
  );
  assert.equal(maxInFlight, 2);
  assert.equal(batches.length, 3, "three batches of two");
  assert.ok(batches[1]! - batches[0]! >= 3_000 && batches[2]! - batches[1]! >= 3_000);
  assert.deepEqual(runningImages(h), Array(6).fill("v2"));
  assert.equal(h.service("web").updateStatus?.specVersion, 2);
});

test("stop-first: a new task starts only after the old one in its slot has stopped", () => {
  const h = setup(72, 1, { parallelism: 1 });
  h.updateService("web", image("v2"));
  const [fresh] = h.tasks("web").filter((t) => t.spec.containerSpec.image === "v2");
  assert.equal(fresh!.desiredState, TaskState.READY, "prepared but held");
  h.runUntil(() => h.running("web").length === 1, 5_000);
  const tasks = h.tasks("web");
  const old = tasks.find((t) => t.spec.containerSpec.image === "busybox")!;
  const started = tasks.find((t) => t.id === fresh!.id)!;
  assert.equal(old.status.state, TaskState.SHUTDOWN);
  assert.ok(started.status.timestamp >= old.status.timestamp, "started after the old stopped");
});

test("start-first never runs fewer than the replica count", () => {
  const h = setup(73, 4, { parallelism: 2, order: "start-first" });
  h.updateService("web", image("v2"));
  h.runUntil(() => {
    assert.ok(h.running("web").length >= 4, `only ${h.running("web").length} running`);
    return state(h) === "completed";
  }, 30_000);
  assert.deepEqual(runningImages(h), Array(4).fill("v2"));
});

test("failure action pause: the update stops and names the task; a new spec resumes", () => {
  const h = setup(74, 4, { parallelism: 1, failureAction: "pause" });
  h.updateService("web", image("bad"));
  h.runUntil(() => state(h) === "paused", 10_000);
  const st = h.service("web").updateStatus!;
  assert.match(st.message, /update paused due to failure or early termination of task \w+/);
  h.runFor(10_000);
  assert.equal(runningImages(h).filter((i) => i === "busybox").length, 3, "3 slots untouched");
  h.updateService("web", image("v3"));
  h.runUntil(() => state(h) === "completed", 30_000);
  assert.deepEqual(runningImages(h), Array(4).fill("v3"));
});

test("failure action rollback: the previous spec comes back and the status says so", () => {
  const h = setup(75, 4, { parallelism: 2, failureAction: "rollback" });
  h.updateService("web", image("bad"));
  h.runUntil(() => state(h) === "rollback_started", 10_000);
  assert.match(h.service("web").updateStatus!.message, /update rolled back due to failure/);
  h.runUntil(() => state(h) === "rollback_completed", 30_000);
  const svc = h.service("web");
  assert.equal(svc.spec.taskTemplate.containerSpec.image, "busybox");
  assert.equal(svc.previousSpec?.taskTemplate.containerSpec.image, "bad");
  assert.equal(svc.specVersion, 3);
  h.runUntil(() => h.running("web").length === 4, 20_000);
  assert.deepEqual(runningImages(h), Array(4).fill("busybox"));
});

test("failure action continue: the update goes on past failures", () => {
  const h = setup(76, 3, { parallelism: 1, failureAction: "continue" });
  h.updateService("web", image("bad"));
  h.runUntil(() => state(h) === "completed", 30_000);
  assert.match(h.service("web").updateStatus!.message, /completed with 3 failure/);
  assert.ok(h.runnable("web").every((t) => t.spec.containerSpec.image === "bad"));
});

test("monitor window and max failure ratio decide what counts", () => {
  const run = (ratio: number, crashAfterMs: number) => {
    const h = setup(77, 4, { parallelism: 4, monitorMs: 5_000, maxFailureRatio: ratio });
    h.updateService("web", image("v2"));
    h.runUntil(() => h.running("web").length === 4, 5_000);
    h.runFor(crashAfterMs);
    crash(h, h.running("web")[0]!.id);
    h.runUntil(() => state(h) !== "updating", 20_000);
    return state(h);
  };
  assert.equal(run(0, 1_000), "paused", "a crash inside the window fails the update");
  assert.equal(run(0, 8_000), "completed", "a crash after the window does not");
  assert.equal(run(0.3, 1_000), "completed", "1 failure of 4 is within a 0.3 ratio");
  assert.equal(run(0.2, 1_000), "paused", "but not within 0.2");
});

test("a global service updates node by node", () => {
  const h = new Harness({ seed: 78, nodes: 4 });
  h.createService("agent", {
    mode: { global: {} },
    updateConfig: { ...defaultUpdateConfig, parallelism: 1, monitorMs: 500 },
  });
  h.runUntil(() => h.running("agent").length === 4, 5_000);
  h.updateService("agent", (s) => ({
    ...s,
    taskTemplate: { ...s.taskTemplate, containerSpec: { image: "v2" } },
  }));
  h.runUntil(() => h.service("agent").updateStatus?.state === "completed", 30_000);
  const tasks = h.running("agent");
  assert.deepEqual(tasks.map((t) => t.nodeId).sort(), ["n1", "n2", "n3", "n4"]);
  assert.ok(tasks.every((t) => t.spec.containerSpec.image === "v2"));
});

test("forceUpdate redeploys an unchanged spec and spreads onto a node that joined", () => {
  const h = setup(79, 6, { parallelism: 1, monitorMs: 200 }, 2);
  h.addNode(makeNode("n3"));
  h.runFor(2_000);
  assert.ok(!h.spread("web").has("n3"), "nothing moves by itself");
  h.updateService("web", (s) => ({ ...s, taskTemplate: { ...s.taskTemplate, forceUpdate: 1 } }));
  h.runUntil(() => state(h) === "completed", 60_000);
  assert.deepEqual([...h.spread("web").values()].sort(), [2, 2, 2]);
});

test("a spec change outside the task template (replicas, labels) replaces nothing", () => {
  const h = setup(80, 3, {});
  const before = h
    .runnable("web")
    .map((t) => t.id)
    .sort();
  h.updateService("web", (s) => ({ ...s, labels: { team: "edge" } }));
  h.runFor(3_000);
  assert.deepEqual(
    h
      .runnable("web")
      .map((t) => t.id)
      .sort(),
    before,
  );
  assert.equal(state(h), undefined);
});

test("a global update does not wait for a node that is down; the node gets it on return", () => {
  const h = new Harness({ seed: 81, nodes: 3 });
  h.createService("agent", {
    mode: { global: {} },
    updateConfig: { ...defaultUpdateConfig, parallelism: 1, monitorMs: 500 },
  });
  h.runUntil(() => h.running("agent").length === 3, 5_000);
  h.setNodeState("n2", "down");
  h.updateService("agent", image("v2"));
  h.runUntil(() => h.service("agent").updateStatus?.state === "completed", 30_000);
  h.setNodeState("n2", "ready");
  h.runUntil(() => h.running("agent").length === 3, 5_000);
  assert.ok(h.running("agent").every((t) => t.spec.containerSpec.image === "v2"));
});
