import assert from "node:assert/strict";
import { test } from "node:test";
import { makeNode, makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import type { Store } from "../store/store.ts";
import { ConstraintEnforcer } from "./constraint-enforcer.ts";
import { createLoops } from "./orchestrator.ts";
import { Harness } from "./testing/harness.ts";

const ssdOnly = (replicas: number) => ({
  mode: { replicated: { replicas } },
  taskTemplate: makeTemplate({ placement: { constraints: ["node.labels.storage==ssd"] } }),
});

function ssdNodes() {
  return [
    makeNode("a", { labels: { storage: "ssd" } }),
    makeNode("b", { labels: { storage: "ssd" } }),
    makeNode("c", { labels: { storage: "sd" } }),
  ];
}

test("a label change that breaks a constraint moves the task to a node that fits", () => {
  const h = new Harness({ seed: 51, nodes: ssdNodes() });
  h.createService("db", ssdOnly(2));
  h.runUntil(() => h.running("db").length === 2, 5_000);
  assert.ok(!h.spread("db").has("c"));
  const onA = h.runnable("db").filter((t) => t.nodeId === "a");
  h.setLabels("a", { storage: "hdd" });
  assert.equal(h.runnable("db").filter((t) => t.nodeId === "a").length, 0, "replaced at once");
  for (const t of onA) {
    assert.equal(h.tasks("db").find((x) => x.id === t.id)!.desiredState, TaskState.SHUTDOWN);
  }
  h.runUntil(() => h.running("db").length === 2, 5_000);
  assert.deepEqual([...h.spread("db").keys()], ["b"]);
});

test("with no node left that fits, the replacement waits PENDING with the reason", () => {
  const h = new Harness({ seed: 52, nodes: ssdNodes() });
  h.createService("db", ssdOnly(1));
  h.runUntil(() => h.running("db").length === 1, 5_000);
  h.setLabels("a", {});
  h.setLabels("b", {});
  h.runFor(1_000);
  const [t] = h.runnable("db");
  assert.equal(t!.status.state, TaskState.PENDING);
  assert.match(t!.status.message, /constraint node.labels.storage==ssd not satisfied on 3 nodes/);
  h.setLabels("c", { storage: "ssd" });
  h.runUntil(() => h.running("db").length === 1, 5_000);
  assert.deepEqual([...h.spread("db").keys()], ["c"]);
});

test("only the enforcer moves them: without it a misfit task stays", () => {
  const withoutEnforcer = (store: Store, seed: number) =>
    createLoops(store, { seed }).filter((l) => {
      if (!(l instanceof ConstraintEnforcer)) return true;
      l.close();
      return false;
    });
  const h = new Harness({ seed: 53, nodes: ssdNodes(), loops: withoutEnforcer });
  h.createService("db", ssdOnly(2));
  h.runUntil(() => h.running("db").length === 2, 5_000);
  h.setLabels("a", { storage: "hdd" });
  h.runFor(1_000);
  assert.ok(h.runnable("db").some((t) => t.nodeId === "a"));
});

test("unrelated node changes and unconstrained services are left alone", () => {
  const h = new Harness({ seed: 54, nodes: ssdNodes() });
  h.createService("db", ssdOnly(2));
  h.createService("web", { mode: { replicated: { replicas: 3 } } });
  h.runUntil(() => h.running("db").length + h.running("web").length === 5, 5_000);
  const before = [...h.runnable("db"), ...h.runnable("web")].map((t) => t.id).sort();
  h.setLabels("a", { storage: "ssd", zone: "north" });
  h.setLabels("c", { storage: "hdd" });
  h.runFor(1_000);
  const after = [...h.runnable("db"), ...h.runnable("web")].map((t) => t.id).sort();
  assert.deepEqual(after, before);
});

test("a node whose resources shrink below its tasks' reservations sheds the newest", () => {
  const GB = 1024 ** 3;
  const h = new Harness({ seed: 55, nodes: 2 });
  h.createService("agent", {
    mode: { global: {} },
    taskTemplate: makeTemplate({ resources: { reservations: { memoryBytes: 1 * GB } } }),
  });
  h.createService("web", {
    mode: { replicated: { replicas: 6 } },
    taskTemplate: makeTemplate({ resources: { reservations: { memoryBytes: 1 * GB } } }),
  });
  h.runUntil(() => h.running("web").length === 6 && h.running("agent").length === 2, 5_000);
  const onN1 = h.runnable("web").filter((t) => t.nodeId === "n1");
  assert.equal(onN1.length, 3);
  // The board now reports 3 GB: the global task (never moved) and the 2 oldest web tasks stay.
  h.setNode("n1", (n) => ({
    ...n,
    description: {
      ...n.description,
      resources: { ...n.description.resources, memoryBytes: 3 * GB },
    },
  }));
  const newest = [...onN1].sort((a, b) => b.createdAt - a.createdAt || (b.id > a.id ? 1 : -1))[0]!;
  const left = h.runnable("web").filter((t) => t.nodeId === "n1");
  assert.equal(left.length, 2);
  assert.ok(!left.some((t) => t.id === newest.id), "the newest went");
  assert.equal(h.runnable("agent").filter((t) => t.nodeId === "n1").length, 1);
  h.runUntil(() => h.running("web").length === 6, 5_000);
  assert.equal(h.spread("web").get("n2"), 4);
});
