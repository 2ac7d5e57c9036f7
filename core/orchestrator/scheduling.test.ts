import assert from "node:assert/strict";
import { test } from "node:test";
import { makeNode, makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import { ReplicatedLoop } from "./replicated.ts";
import { SchedulingLoop } from "./scheduling.ts";
import { Harness } from "./testing/harness.ts";

const placeOnly = (store: Harness["store"], seed: number) => [
  new ReplicatedLoop(store, { seed }),
  new SchedulingLoop(store, { seed }),
];

function fail(h: Harness, id: string) {
  h.store.update((tx) => {
    const t = tx.get("tasks", id)!;
    tx.update("tasks", { ...t, status: { ...t.status, state: TaskState.FAILED } });
  });
  h.settle();
}

test("placements are committed in few store applies (one batch per pass)", () => {
  const h = new Harness({ seed: 101, nodes: 10, loops: placeOnly });
  h.agentsOn = false;
  const before = h.store.index;
  h.createService("web", { mode: { replicated: { replicas: 300 } } });
  const applies = h.store.index - before;
  assert.ok(applies <= 4, `${applies} applies for create + 300 placements`);
  assert.ok(h.tasks("web").every((t) => t.status.state === TaskState.ASSIGNED));
});

test("an explanation is written once, and rewritten only when it changes", () => {
  const h = new Harness({ seed: 102, nodes: 2, loops: placeOnly });
  h.agentsOn = false;
  h.createService("gpu", {
    mode: { replicated: { replicas: 1 } },
    taskTemplate: makeTemplate({ placement: { constraints: ["node.labels.gpu==yes"] } }),
  });
  const [t] = h.tasks("gpu");
  assert.match(t!.status.message, /not satisfied on 2 nodes/);
  const version = t!.version;
  h.setNodeState("n1", "ready"); // a node event with nothing new to say
  h.setLabels("n2", { zone: "x" });
  assert.equal(h.tasks("gpu")[0]!.version, version, "same message: not rewritten");
  h.addNode(makeNode("n3"));
  const [again] = h.tasks("gpu");
  assert.match(again!.status.message, /not satisfied on 3 nodes/);
});

function landing(failuresOnN1: number, waitMs: number): string {
  const nodes = [makeNode("n1"), makeNode("n2", { labels: { busy: "yes" } })];
  const h = new Harness({ seed: 103, nodes, loops: placeOnly });
  h.agentsOn = false;
  // n2 runs more tasks overall, so n1 is the natural choice for a new service.
  h.createService("other", {
    mode: { replicated: { replicas: 3 } },
    taskTemplate: makeTemplate({ placement: { constraints: ["node.labels.busy==yes"] } }),
  });
  h.setAvailability("n2", "pause");
  h.createService("web", { mode: { replicated: { replicas: 0 } } });
  const scale = (n: number) =>
    h.updateService("web", (s) => ({ ...s, mode: { replicated: { replicas: n } } }));
  for (let i = 0; i < failuresOnN1; i++) {
    scale(1);
    const [t] = h.runnable("web");
    assert.equal(t!.nodeId, "n1");
    fail(h, t!.id);
    scale(0);
  }
  h.setAvailability("n2", "active");
  h.runFor(waitMs);
  scale(1);
  return h.runnable("web")[0]!.nodeId;
}

test("a node where the service failed 5 times in 5 minutes is ranked last", () => {
  assert.equal(landing(0, 0), "n1", "fewest tasks overall");
  assert.equal(landing(4, 0), "n1", "4 failures are not enough");
  assert.equal(landing(5, 0), "n2", "5 are");
  assert.equal(landing(5, 5 * 60_000 + 1_000), "n1", "and they are forgotten after 5 minutes");
});
