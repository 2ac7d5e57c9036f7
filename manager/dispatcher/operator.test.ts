// Operator topics: JSON events for node up/down, task state, services and leader changes, and
// the retained state mirror, cleared with an empty retained payload on removal.

import assert from "node:assert/strict";
import { test } from "node:test";
import { makeCluster, makeService, makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { Store } from "../../core/store/store.ts";
import { harness, jsonOn } from "./testing.ts";

const json = (b: Uint8Array | undefined) =>
  b && (JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>);

test("leader, node and task events; node state mirrored and cleared", async () => {
  const store = new Store();
  store.update((tx) => tx.create("clusters", makeCluster("c1")));
  const h = harness({ store });
  await h.dispatcher.start();
  const t = h.topics;
  const leader = jsonOn(h.broker, t.event("leader"));
  assert.equal(leader.length, 1);
  assert.equal(leader[0]!.action, "elected");
  await h.hello("n1");
  await h.clock.advance(100);
  store.update((tx) => {
    tx.create("services", makeService("web"));
    tx.create(
      "tasks",
      makeTask("t1", "web", {
        nodeId: "n1",
        status: { state: TaskState.ASSIGNED, timestamp: 0, message: "" },
      }),
    );
  });
  await h.status("n1", [{ taskId: "t1", state: TaskState.RUNNING, timestamp: 1, message: "up" }]);
  await h.clock.advance(20_000); // past three periods: n1 goes down
  const nodes = jsonOn(h.broker, t.event("node"));
  assert.deepEqual(
    nodes.map((e) => e.action),
    ["registered", "down"],
  );
  assert.equal(nodes[1]!.previous, "ready");
  const tasks = jsonOn(h.broker, t.event("task"));
  assert.deepEqual(
    tasks.map((e) => [e.taskId, e.previous, e.state]),
    [
      ["t1", undefined, "ASSIGNED"],
      ["t1", "ASSIGNED", "RUNNING"],
    ],
  );
  const mirror = json(h.broker.retained(t.nodeState("n1")))!;
  assert.equal(mirror.state, "down");
  assert.equal(mirror.hostname, "host-n1");
  const svc = json(h.broker.retained(t.serviceState("web")))!;
  assert.deepEqual(svc.tasks, { desired: 1, running: 1 });
  assert.equal(svc.image, "busybox");
  store.update((tx) => tx.delete("nodes", "n1"));
  await h.clock.advance(10);
  assert.equal(h.broker.retained(t.nodeState("n1")), undefined, "mirror cleared");
  assert.equal(jsonOn(h.broker, t.event("node")).at(-1)!.action, "removed");
  await h.dispatcher.stop();
  assert.deepEqual(
    jsonOn(h.broker, t.event("leader")).map((e) => e.action),
    ["elected", "stepped-down"],
  );
});

test("service events and mirror: created, updated, removed (cleared)", async () => {
  const h = harness();
  await h.dispatcher.start();
  const t = h.topics;
  h.store.update((tx) => tx.create("services", makeService("api", { name: "api" })));
  h.store.update((tx) => {
    const s = tx.get("services", "api")!;
    tx.update("services", { ...s, specVersion: 2 });
  });
  await h.clock.advance(10);
  assert.equal(json(h.broker.retained(t.serviceState("api")))!.specVersion, 2);
  h.store.update((tx) => tx.delete("services", "api"));
  await h.clock.advance(10);
  const events = jsonOn(h.broker, t.event("service"));
  assert.deepEqual(
    events.map((e) => e.action),
    ["created", "updated", "removed"],
  );
  assert.equal(h.broker.retained(t.serviceState("api")), undefined);
  await h.dispatcher.stop();
});

test("a new leader republishes every node's mirror and assignment", async () => {
  const h = harness();
  await h.dispatcher.start();
  for (const id of ["a", "b", "c"]) await h.hello(id);
  await h.clock.advance(100);
  await h.dispatcher.stop();
  const b = harness({ store: h.store, clock: h.clock });
  await b.dispatcher.start();
  assert.deepEqual(b.broker.retainedTopics(b.topics.stateFilter), [
    "fleet/c1/state/nodes/a",
    "fleet/c1/state/nodes/b",
    "fleet/c1/state/nodes/c",
  ]);
  assert.equal(b.broker.retainedTopics("fleet/c1/n/+/assign").length, 3);
  await b.dispatcher.stop();
});
