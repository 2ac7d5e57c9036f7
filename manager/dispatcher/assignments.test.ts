// Assignments: contents, version monotonic (also across a leader change), republished on
// change with bursts coalesced, not republished for status reports.

import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../../core/limits.ts";
import { makeCluster, makeNode, makeService, makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import type { Task } from "../../core/model/types.ts";
import { Store } from "../../core/store/store.ts";
import { nodesChangedBy } from "./assignments.ts";
import { FakeClock } from "./clock.ts";
import { harness } from "./testing.ts";

const S = TaskState;

function task(id: string, nodeId: string, state: number, desired: number = S.RUNNING): Task {
  return makeTask(id, "web", {
    nodeId,
    desiredState: desired as Task["desiredState"],
    status: { state: state as Task["status"]["state"], timestamp: 0, message: "" },
  });
}

function seeded(): Store {
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", makeCluster("c1"));
    tx.create("services", makeService("web", { name: "web" }));
    tx.create("nodes", makeNode("n1"));
    tx.create("nodes", makeNode("n2"));
  });
  store.update((tx) => {
    tx.create("tasks", task("pending", "", S.PENDING));
    tx.create("tasks", task("assigned", "n1", S.ASSIGNED));
    tx.create("tasks", task("running", "n1", S.RUNNING));
    tx.create("tasks", task("stopping", "n1", S.RUNNING, S.SHUTDOWN));
    tx.create("tasks", task("failed", "n1", S.FAILED, S.SHUTDOWN));
    tx.create("tasks", task("removing", "n1", S.RUNNING, S.REMOVE));
    tx.create("tasks", task("elsewhere", "n2", S.RUNNING));
  });
  return store;
}

test("an assignment holds the node's placed tasks, including those to stop", async () => {
  const h = harness({ store: seeded() });
  await h.dispatcher.start();
  const a = h.assignment("n1");
  assert.ok(a, "published at leader start");
  assert.deepEqual(
    a.tasks.map((t) => t.id),
    ["assigned", "failed", "running", "stopping"],
  );
  const stopping = a.tasks.find((t) => t.id === "stopping")!;
  assert.equal(stopping.desiredState, S.SHUTDOWN);
  assert.equal(stopping.serviceName, "web");
  assert.equal(a.version, h.store.index, "untouched since start: the start index");
  assert.deepEqual(
    h.assignment("n2")!.tasks.map((t) => t.id),
    ["elsewhere"],
  );
  await h.dispatcher.stop();
});

test("a change republishes with a higher version; a burst coalesces into one", async () => {
  const h = harness({ store: seeded() });
  await h.dispatcher.start();
  const first = h.assignment("n1")!;
  const published = h.assignments("n1").length;
  for (let i = 0; i < 50; i++) {
    h.store.update((tx) =>
      tx.create(
        "tasks",
        makeTask(`new${i}`, "web", {
          slot: 10 + i,
          nodeId: "n1",
          status: { state: S.ASSIGNED, timestamp: 0, message: "" },
        }),
      ),
    );
  }
  await h.clock.advance(50);
  const all = h.assignments("n1");
  assert.equal(all.length, published + 1, "fifty writes, one publish");
  const next = h.assignment("n1")!;
  assert.equal(next.tasks.length, first.tasks.length + 50);
  assert.equal(next.version, h.store.index);
  assert.ok(next.version > first.version);
  await h.dispatcher.stop();
});

test("removing a task still raises the version; status reports do not republish", async () => {
  const h = harness({ store: seeded() });
  await h.dispatcher.start();
  const v0 = h.assignment("n1")!.version;
  h.store.update((tx) => tx.delete("tasks", "stopping"));
  await h.clock.advance(50);
  const v1 = h.assignment("n1")!.version;
  assert.ok(v1 > v0, `${v1} > ${v0}`);
  assert.ok(!h.assignment("n1")!.tasks.some((t) => t.id === "stopping"));
  const count = h.assignments("n1").length;
  await h.status("n1", [{ taskId: "assigned", state: S.ACCEPTED, timestamp: 1, message: "ok" }]);
  await h.clock.advance(200);
  assert.equal(h.store.view((tx) => tx.get("tasks", "assigned"))!.status.state, S.ACCEPTED);
  assert.equal(h.assignments("n1").length, count, "status alone changes no assignment");
  await h.dispatcher.stop();
});

test("every hello republishes; the version keeps rising across a leader change", async () => {
  const store = seeded();
  const clock = new FakeClock();
  const a = harness({ store, clock });
  await a.dispatcher.start();
  store.update((tx) =>
    tx.update("tasks", { ...tx.get("tasks", "running")!, desiredState: S.SHUTDOWN }),
  );
  await clock.advance(50);
  const before = a.assignment("n1")!.version;
  const count = a.assignments("n1").length;
  await a.hello("n1");
  assert.equal(a.assignments("n1").length, count + 1);
  assert.equal(a.assignment("n1")!.version, before, "same content, same version");
  await a.dispatcher.stop();
  // A new leader on the same replicated state: its versions start at its applied index.
  store.update((tx) => tx.create("nodes", makeNode("n3")));
  const b = harness({ store, clock });
  await b.dispatcher.start();
  await b.hello("n1");
  const after = b.assignment("n1")!.version;
  assert.ok(after >= before, `${after} >= ${before}`);
  store.update((tx) => tx.delete("tasks", "failed"));
  await clock.advance(50);
  assert.ok(b.assignment("n1")!.version > after);
  await b.dispatcher.stop();
});

test("a service rename republishes its tasks' nodes", async () => {
  const h = harness({ store: seeded() });
  await h.dispatcher.start();
  h.store.update((tx) => {
    const s = tx.get("services", "web")!;
    tx.update("services", { ...s, spec: { ...s.spec, name: "www" } });
  });
  await h.clock.advance(50);
  assert.equal(h.assignment("n1")!.tasks[0]!.serviceName, "www");
  assert.equal(h.assignment("n2")!.tasks[0]!.serviceName, "www");
  await h.dispatcher.stop();
});

test("a removed node's retained assignment is cleared", async () => {
  const h = harness({ store: seeded() });
  await h.dispatcher.start();
  h.store.update((tx) => tx.delete("nodes", "n2"));
  await h.clock.advance(50);
  assert.equal(h.assignment("n2"), undefined);
  await h.dispatcher.stop();
});

test("nodesChangedBy: moves, placement, desired state, and status-only changes", () => {
  const t = task("t", "n1", S.RUNNING);
  assert.deepEqual(nodesChangedBy(undefined, t), ["n1"]);
  assert.deepEqual(nodesChangedBy(t, undefined), ["n1"]);
  assert.deepEqual(nodesChangedBy(t, { ...t, nodeId: "n2" }), ["n1", "n2"]);
  assert.deepEqual(nodesChangedBy(t, { ...t, desiredState: S.SHUTDOWN }), ["n1"]);
  assert.deepEqual(nodesChangedBy(t, { ...t, status: { ...t.status, state: S.FAILED } }), []);
  const pending = task("p", "n1", S.PENDING);
  assert.deepEqual(nodesChangedBy(undefined, pending), []);
  assert.deepEqual(
    nodesChangedBy(pending, { ...pending, status: { ...pending.status, state: S.ASSIGNED } }),
    ["n1"],
  );
});

test("a burst over many nodes is published in slices, every node in the end", async () => {
  const store = new Store();
  const nodes = 1200;
  store.update((tx) => {
    tx.create("clusters", makeCluster("c1"));
    tx.create("services", makeService("web", { name: "web" }));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  const before = h.broker.log.length;
  store.batch((b) => {
    for (let i = 0; i < nodes; i++) {
      b.update((tx) => tx.create("tasks", task(`t${i}`, `n${i}`, S.ASSIGNED)));
    }
  });
  await h.clock.advance(50);
  const assigns = h.broker.log.slice(before).filter((m) => m.topic.endsWith("/assign"));
  assert.equal(assigns.length, nodes);
  assert.equal(h.assignment("n1199")!.tasks[0]!.id, "t1199");
  await h.dispatcher.stop();
});

test("a watch that fell behind resyncs: every node republished, new version", async () => {
  const h = harness({ store: seeded() });
  await h.dispatcher.start();
  const before = h.assignment("n2")!;
  // More events than a watcher may queue, before the dispatcher gets a turn.
  const updates = Math.ceil(limits.watchQueueEventsMax / 2) + 10;
  for (let i = 0; i < updates; i++) {
    h.store.update((tx) => {
      const t = tx.get("tasks", "running")!;
      tx.update("tasks", { ...t, status: { ...t.status, message: `m${i}` } });
    });
  }
  h.store.update((tx) => tx.update("tasks", { ...tx.get("tasks", "assigned")!, nodeId: "n2" }));
  // The dispatcher drains what was queued a slice per turn, then resynchronises.
  for (let i = 0; i < 1000 && h.assignment("n2")!.version === before.version; i++) {
    await h.clock.advance(10);
  }
  const after = h.assignment("n2")!;
  assert.ok(after.version > before.version, `${after.version} > ${before.version}`);
  assert.deepEqual(
    after.tasks.map((t) => t.id),
    ["assigned", "elsewhere"],
  );
  // And it keeps following the store afterwards.
  h.store.update((tx) => tx.delete("tasks", "elsewhere"));
  await h.clock.advance(50);
  assert.deepEqual(
    h.assignment("n2")!.tasks.map((t) => t.id),
    ["assigned"],
  );
  await h.dispatcher.stop();
});
