import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultUpdateConfig } from "../model/defaults.ts";
import { makeNode, makeTask, makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import { REBALANCE_LABEL } from "./options.ts";
import { pickMove } from "./rebalance.ts";
import { Harness } from "./testing/harness.ts";

const running = (id: string, slot: number, nodeId: string) =>
  makeTask(id, "s", {
    slot,
    nodeId,
    status: { state: TaskState.RUNNING, timestamp: 0, message: "" },
  });

test("pickMove takes the highest slot from the most loaded node while the gap is >= 2", () => {
  const nodes = [makeNode("a"), makeNode("b"), makeNode("c")];
  const tasks = [running("1", 1, "a"), running("2", 2, "a"), running("3", 3, "b")];
  const pick = pickMove(tasks, nodes);
  assert.ok(pick !== undefined && pick !== "wait");
  assert.equal(pick.task.id, "2");
  assert.equal(pick.to, "c");
  const starting = tasks.map((t) =>
    t.nodeId === "a" ? { ...t, status: { ...t.status, state: TaskState.STARTING } } : t,
  );
  assert.equal(pickMove(starting as never, nodes), "wait", "only running tasks move");
  assert.equal(pickMove(tasks.slice(1), nodes), undefined, "1-1-0 is balanced enough");
});

function setup(seed: number, labels: Record<string, string>) {
  const h = new Harness({ seed, nodes: 2 });
  h.createService("web", {
    mode: { replicated: { replicas: 6 } },
    labels,
    updateConfig: { ...defaultUpdateConfig, delayMs: 2_000 },
  });
  h.runUntil(() => h.running("web").length === 6, 5_000);
  return h;
}

test("gradual rebalance moves tasks one at a time onto a node that joined", () => {
  const h = setup(81, { [REBALANCE_LABEL]: "gradual" });
  h.addNode(makeNode("n3"));
  let minRunning = 6;
  let maxMovesAtOnce = 0;
  h.runUntil(
    () => {
      minRunning = Math.min(minRunning, h.running("web").length);
      const extra = h.runnable("web").length - 6;
      maxMovesAtOnce = Math.max(maxMovesAtOnce, extra);
      const s = [...h.spread("web").values()].sort();
      return s.join() === "2,2,2";
    },
    30_000,
    "2-2-2",
  );
  assert.equal(minRunning, 6, "start-first: never below the replica count");
  assert.equal(maxMovesAtOnce, 1, "one move at a time");
  const moved = h.tasks("web").filter((t) => t.desiredState === TaskState.SHUTDOWN);
  assert.equal(moved.length, 2, "exactly the two moves 2-2-2 needs");
  h.runFor(10_000);
  assert.equal(h.runnable("web").length, 6, "and then it stops");
});

test("a node that comes back, or is re-activated, gets its share back", () => {
  const h = setup(82, { [REBALANCE_LABEL]: "gradual", "fleet.disconnect-grace": "0" });
  h.setNodeState("n2", "down");
  h.runUntil(() => h.spread("web").get("n1") === 6, 5_000);
  h.setNodeState("n2", "ready");
  h.runUntil(() => [...h.spread("web").values()].join() === "3,3", 30_000);
  h.setAvailability("n1", "drain");
  h.runUntil(() => h.spread("web").get("n2") === 6, 5_000);
  h.setAvailability("n1", "active");
  h.runUntil(() => [...h.spread("web").values()].join() === "3,3", 30_000);
});

test("without the label, or for a constrained-out node, nothing moves", () => {
  const h = setup(83, {});
  h.addNode(makeNode("n3"));
  h.runFor(20_000);
  assert.ok(!h.spread("web").has("n3"));
  const g = new Harness({ seed: 84, nodes: 2 });
  g.createService("web", {
    mode: { replicated: { replicas: 4 } },
    labels: { [REBALANCE_LABEL]: "gradual" },
    taskTemplate: makeTemplate({ placement: { constraints: ["node.labels.role!=sensor"] } }),
  });
  g.runUntil(() => g.running("web").length === 4, 5_000);
  g.addNode(makeNode("n3", { labels: { role: "sensor" } }));
  g.runFor(20_000);
  assert.ok(!g.spread("web").has("n3"));
  assert.equal(g.runnable("web").length, 4);
});

test("a move that cannot be placed is abandoned without churn", () => {
  const h = setup(85, { [REBALANCE_LABEL]: "gradual" });
  const full = makeNode("n3");
  h.addNode({
    ...full,
    description: { ...full.description, resources: { nanoCPUs: 1, memoryBytes: 1 } },
  });
  h.updateService("web", (s) => ({
    ...s,
    taskTemplate: { ...s.taskTemplate, resources: { reservations: { memoryBytes: 1024 } } },
  }));
  h.runFor(30_000);
  assert.ok(!h.spread("web").has("n3"));
  assert.equal(h.runnable("web").length, 6);
});
