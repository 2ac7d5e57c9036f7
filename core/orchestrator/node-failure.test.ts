import assert from "node:assert/strict";
import { test } from "node:test";
import { makeNode, makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import { DISCONNECT_GRACE_LABEL, parseDurationMs, serviceOptions } from "./options.ts";
import { Harness } from "./testing/harness.ts";

const replicated = (n: number, labels: Record<string, string> = {}) => ({
  mode: { replicated: { replicas: n } },
  labels,
});

test("durations and the grace label parse; bad values fall back to the default", () => {
  assert.equal(parseDurationMs("90s"), 90_000);
  assert.equal(parseDurationMs("5m"), 300_000);
  assert.equal(parseDurationMs("250ms"), 250);
  assert.equal(parseDurationMs("0"), 0);
  assert.equal(parseDurationMs("10"), undefined, "a unit is required");
  assert.equal(parseDurationMs("soon"), undefined);
  const opts = (v: string) =>
    serviceOptions({ spec: { labels: { [DISCONNECT_GRACE_LABEL]: v } } as never });
  assert.equal(opts("2m").disconnectGraceMs, 120_000);
  assert.equal(opts("nonsense").disconnectGraceMs, 30_000);
});

function onNode(h: Harness, svc: string, node: string) {
  return h.runnable(svc).filter((t) => t.nodeId === node);
}

test("tasks stay on a down node for the grace, then move to ready nodes", () => {
  const h = new Harness({ seed: 41 });
  h.createService("web", replicated(6, { [DISCONNECT_GRACE_LABEL]: "20s" }));
  h.runUntil(() => h.running("web").length === 6, 5_000);
  const stranded = onNode(h, "web", "n1");
  assert.ok(stranded.length > 0);
  h.setNodeState("n1", "down");
  h.runFor(19_000);
  assert.equal(onNode(h, "web", "n1").length, stranded.length, "kept during the grace");
  h.runFor(2_000);
  assert.equal(onNode(h, "web", "n1").length, 0, "moved after the grace");
  h.runUntil(() => h.running("web").length === 6, 5_000, "replacements running");
  for (const t of stranded) {
    const old = h.tasks("web").find((x) => x.id === t.id)!;
    assert.equal(old.desiredState, TaskState.SHUTDOWN);
    assert.ok(
      h.runnable("web").some((x) => x.slot === t.slot),
      `slot ${t.slot} refilled`,
    );
  }
  // The board comes back: its agent stops the stale tasks.
  h.setNodeState("n1", "ready");
  h.runFor(1_000);
  for (const t of stranded) {
    const old = h.tasks("web").find((x) => x.id === t.id)!;
    assert.equal(old.status.state, TaskState.SHUTDOWN);
  }
});

test("a node back within the grace keeps its tasks; the grace restarts on the next loss", () => {
  const h = new Harness({ seed: 42 });
  h.createService("web", replicated(3, { [DISCONNECT_GRACE_LABEL]: "10s" }));
  h.runUntil(() => h.running("web").length === 3, 5_000);
  const before = h
    .runnable("web")
    .map((t) => t.id)
    .sort();
  for (let i = 0; i < 5; i++) {
    h.setNodeState("n2", "down");
    h.runFor(8_000);
    h.setNodeState("n2", "ready");
    h.runFor(1_000);
  }
  assert.deepEqual(
    h
      .runnable("web")
      .map((t) => t.id)
      .sort(),
    before,
    "nothing moved",
  );
});

test("each service has its own grace; the default is 30 s", () => {
  const h = new Harness({ seed: 43, nodes: 2 });
  h.createService("fast", replicated(2, { [DISCONNECT_GRACE_LABEL]: "0" }));
  h.createService("slow", replicated(2));
  h.runUntil(() => h.running("fast").length + h.running("slow").length === 4, 5_000);
  h.setNodeState("n1", "down");
  h.runFor(1_000);
  assert.equal(onNode(h, "fast", "n1").length, 0);
  assert.equal(onNode(h, "slow", "n1").length, 1);
  h.runFor(30_000);
  assert.equal(onNode(h, "slow", "n1").length, 0);
  assert.deepEqual([...h.spread("slow").keys()], ["n2"]);
});

test("a drained node is emptied at once; a removed node too", () => {
  const h = new Harness({ seed: 44 });
  h.createService("web", replicated(6));
  h.runUntil(() => h.running("web").length === 6, 5_000);
  h.setAvailability("n1", "drain");
  assert.equal(onNode(h, "web", "n1").length, 0, "same settle");
  h.runUntil(() => h.running("web").length === 6, 5_000);
  assert.ok(!h.spread("web").has("n1"));
  const onN2 = onNode(h, "web", "n2").length;
  assert.ok(onN2 > 0);
  h.removeNode("n2");
  assert.equal(onNode(h, "web", "n2").length, 0);
  h.runUntil(() => h.running("web").length === 6, 5_000);
  assert.deepEqual([...h.spread("web").keys()], ["n3"]);
});

test("replicated job tasks move too; a pending task is never placed on a down node", () => {
  const h = new Harness({ seed: 45, faults: { jobRunSteps: 1_000 } });
  h.createService("batch", {
    mode: { replicatedJob: { totalCompletions: 2, maxConcurrent: 2 } },
    labels: { [DISCONNECT_GRACE_LABEL]: "1s" },
    taskTemplate: makeTemplate({}),
  });
  h.runUntil(() => h.running("batch").length === 2, 5_000);
  const node = h.running("batch")[0]!.nodeId;
  h.setNodeState(node, "down");
  h.runFor(3_000);
  assert.equal(onNode(h, "batch", node).length, 0);
  assert.equal(h.running("batch").length, 2);
  h.addNode(makeNode("late", { status: { state: "down" } }));
  h.createService("more", replicated(4));
  h.runFor(2_000);
  assert.equal(onNode(h, "more", "late").length, 0);
});
