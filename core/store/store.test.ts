import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../limits.ts";
import { makeNode, makeService, makeTask } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import { StoreError } from "./actions.ts";
import { by } from "./indexes.ts";
import { Store } from "./store.ts";
import type { WriteTx } from "./tx.ts";

function seeded(): Store {
  const s = new Store();
  s.update((tx) => {
    tx.create("nodes", makeNode("n1", { labels: { storage: "ssd" } }));
    tx.create("nodes", makeNode("n2"));
    tx.create("services", makeService("s1", { name: "web" }));
    tx.create("tasks", makeTask("t1", "s1", { nodeId: "n1", slot: 1 }));
    tx.create("tasks", makeTask("t2", "s1", { nodeId: "n2", slot: 2 }));
  });
  return s;
}

test("update is atomic and versions are the writing index", () => {
  const s = seeded();
  assert.equal(s.index, 1);
  assert.equal(s.view((tx) => tx.get("nodes", "n1"))?.version, 1);
  assert.throws(() =>
    s.update((tx) => {
      tx.create("nodes", makeNode("n3"));
      throw new Error("changed my mind");
    }),
  );
  assert.equal(
    s.view((tx) => tx.get("nodes", "n3")),
    undefined,
  );
  assert.equal(s.index, 1, "a failed callback consumes no index");
});

test("a stale version fails with 'update out of sequence'", () => {
  const s = seeded();
  const n1 = s.view((tx) => tx.get("nodes", "n1"))!;
  s.update((tx) => tx.update("nodes", { ...n1, spec: { ...n1.spec, availability: "drain" } }));
  assert.throws(
    () =>
      s.update((tx) => tx.update("nodes", { ...n1, spec: { ...n1.spec, availability: "pause" } })),
    (e: unknown) =>
      e instanceof StoreError &&
      e.code === "out_of_sequence" &&
      /update out of sequence/.test(e.message),
  );
  // The same conflict detected at apply time (two proposals racing through Raft).
  const fresh = s.view((tx) => tx.get("nodes", "n1"))!;
  const a1 = s.prepare((tx) =>
    tx.update("nodes", { ...fresh, spec: { ...fresh.spec, labels: { a: "1" } } }),
  );
  const a2 = s.prepare((tx) =>
    tx.update("nodes", { ...fresh, spec: { ...fresh.spec, labels: { b: "2" } } }),
  );
  assert.ok(s.apply(a1, s.index + 1).ok);
  const r = s.apply(a2, s.index + 1);
  assert.ok(!r.ok && r.error.code === "out_of_sequence");
  assert.deepEqual(s.view((tx) => tx.get("nodes", "n1"))!.spec.labels, { a: "1" });
});

test("objects handed out are frozen", () => {
  const s = seeded();
  const n = s.view((tx) => tx.get("nodes", "n1"))!;
  assert.throws(() => {
    (n.spec.labels as Record<string, string>).x = "y";
  }, TypeError);
});

test("indexes follow writes, including inside a transaction", () => {
  const s = seeded();
  const ids = (q: { index: string; key: string }) =>
    s.view((tx) =>
      tx
        .find("tasks", q)
        .map((t) => t.id)
        .sort(),
    );
  assert.deepEqual(ids(by.serviceId("s1")), ["t1", "t2"]);
  assert.deepEqual(ids(by.nodeId("n2")), ["t2"]);
  assert.deepEqual(ids(by.slot("s1", 2)), ["t2"]);
  assert.deepEqual(
    s.view((tx) => tx.find("nodes", by.label("storage", "ssd")).map((n) => n.id)),
    ["n1"],
  );
  s.update((tx) => {
    const t2 = tx.get("tasks", "t2")!;
    tx.update("tasks", { ...t2, nodeId: "n1", desiredState: TaskState.SHUTDOWN });
    assert.deepEqual(
      tx
        .find("tasks", by.nodeId("n1"))
        .map((t) => t.id)
        .sort(),
      ["t1", "t2"],
    );
    assert.equal(tx.count("tasks", by.nodeId("n2")), 0);
    tx.delete("tasks", "t1");
    assert.deepEqual(
      tx.find("tasks", by.nodeId("n1")).map((t) => t.id),
      ["t2"],
    );
  });
  assert.deepEqual(ids(by.nodeId("n1")), ["t2"]);
  assert.deepEqual(ids(by.desiredState(TaskState.SHUTDOWN)), ["t2"]);
  assert.deepEqual(ids(by.nodeId("n2")), []);
});

test("repeated writes to one object in a transaction collapse into one action", () => {
  const s = seeded();
  const actions = s.prepare((tx) => {
    tx.create("nodes", makeNode("n9"));
    const n9 = tx.get("nodes", "n9")!;
    tx.update("nodes", { ...n9, spec: { ...n9.spec, role: "manager" } });
    const t1 = tx.get("tasks", "t1")!;
    tx.update("tasks", { ...t1, nodeId: "n2" });
    tx.update("tasks", { ...tx.get("tasks", "t1")!, nodeId: "n9" });
  });
  assert.deepEqual(
    actions.map((a) => [a.op, a.table, a.op === "delete" ? a.id : a.object.id]),
    [
      ["create", "nodes", "n9"],
      ["update", "tasks", "t1"],
    ],
  );
  assert.ok(s.apply(actions, s.index + 1).ok);
  assert.equal(s.view((tx) => tx.get("tasks", "t1"))!.nodeId, "n9");
  assert.equal(s.view((tx) => tx.get("nodes", "n9"))!.spec.role, "manager");
});

test("service names are unique, case-insensitively, and may be reused after removal", () => {
  const s = seeded();
  assert.throws(() => s.update((tx) => tx.create("services", makeService("s2", { name: "WEB" }))), {
    code: "name_conflict",
  });
  s.update((tx) => {
    tx.delete("services", "s1");
    tx.create("services", makeService("s2", { name: "web" }));
  });
  assert.equal(
    s.view((tx) => tx.find("services", by.name("Web"))[0]?.id),
    "s2",
  );
});

test("duplicate creates and missing objects are refused", () => {
  const s = seeded();
  assert.throws(() => s.update((tx) => tx.create("nodes", makeNode("n1"))), { code: "exists" });
  assert.throws(() => s.update((tx) => tx.delete("nodes", "zz")), { code: "not_found" });
  const bad = s.apply([{ op: "create", table: "nodes", object: makeNode("n1") }], s.index + 1);
  assert.ok(!bad.ok && bad.error.code === "exists");
  const junk = s.apply([{ op: "explode" } as never], s.index + 1);
  assert.ok(!junk.ok && junk.error.code === "invalid");
});

test("watchers see every change of a transaction, then a commit", () => {
  const s = seeded();
  const w = s.watch({ tables: ["tasks"], kinds: ["create", "update", "delete", "commit"] });
  const onlyNodes = s.watch({ tables: ["nodes"] });
  s.update((tx) => {
    tx.update("tasks", { ...tx.get("tasks", "t1")!, nodeId: "n2" });
    tx.delete("tasks", "t2");
  });
  const events = w.drain();
  assert.deepEqual(
    events.map((e) => e.kind),
    ["update", "delete", "commit"],
  );
  assert.equal(events[0]!.kind === "update" && (events[0]!.old as { nodeId: string }).nodeId, "n1");
  assert.equal(onlyNodes.pending, 0);
  w.close();
  s.update((tx) => tx.create("tasks", makeTask("t3", "s1")));
  assert.equal(w.pending, 0, "a closed watcher receives nothing");
});

test("viewAndWatch: consistent snapshot then every later change, no gap, no duplicate", async () => {
  const s = seeded();
  const { result, watcher } = s.viewAndWatch(
    (tx) =>
      tx
        .find("tasks")
        .map((t) => t.id)
        .sort(),
    {
      tables: ["tasks"],
    },
  );
  for (let i = 3; i < 8; i++)
    s.update((tx) => tx.create("tasks", makeTask(`t${i}`, "s1", { slot: i })));
  const seen = new Set(result);
  const it = watcher[Symbol.asyncIterator]();
  for (let i = 3; i < 8; i++) {
    const e = (await it.next()).value!;
    assert.ok(e.kind === "create" && !seen.has(e.object.id));
    seen.add(e.kind === "create" ? e.object.id : "");
  }
  assert.deepEqual(
    [...seen].sort(),
    s.view((tx) =>
      tx
        .find("tasks")
        .map((t) => t.id)
        .sort(),
    ),
  );
});

test("a slow watcher is closed instead of growing without bound", () => {
  const s = seeded();
  const w = s.watch({ tables: ["tasks"] }, 3);
  for (let i = 3; i < 10; i++) s.update((tx) => tx.create("tasks", makeTask(`t${i}`, "s1")));
  assert.match(w.closedReason ?? "", /fell behind by more than 3 events/);
});

test("batches apply in bounded groups and a throwing callback drops only its writes", () => {
  const s = new Store();
  const total = limits.storeBatchActionsMax * 2 + 5;
  const applies = s.batch((b) => {
    for (let i = 0; i < total; i++) {
      try {
        b.update((tx) => {
          tx.create("tasks", makeTask(`t${i}`, "s1", { slot: i + 1 }));
          if (i % 100 === 7) throw new Error("boom");
        });
      } catch {}
    }
  });
  const failed = Math.ceil((total - 7) / 100);
  assert.equal(
    s.view((tx) => tx.count("tasks")),
    total - failed,
  );
  assert.equal(applies, Math.ceil((total - failed) / limits.storeBatchActionsMax));
  // Callbacks see the writes of earlier callbacks in the same batch.
  s.batch((b) => {
    b.update((tx) => tx.update("tasks", { ...tx.get("tasks", "t0")!, nodeId: "a" }));
    b.update((tx) => tx.update("tasks", { ...tx.get("tasks", "t0")!, slot: 99 }));
  });
  const t0 = s.view((tx) => tx.get("tasks", "t0"))!;
  assert.deepEqual([t0.nodeId, t0.slot], ["a", 99]);
});

test("prepareGroup: bounded groups, chained reads, a throwing callback drops only its writes", () => {
  const s = new Store();
  const n = limits.storeBatchActionsMax + 3;
  const fns = Array.from({ length: n }, (_, i) => (tx: WriteTx) => {
    if (i === 1) {
      // Sees the task the callback before it created, though nothing is applied yet.
      tx.update("tasks", { ...tx.get("tasks", "t0")!, nodeId: "x" });
      return;
    }
    tx.create("tasks", makeTask(`t${i}`, "s1", { slot: i + 1 }));
    if (i === 2) throw new Error("boom");
  });
  const errors: unknown[] = [];
  const first = s.prepareGroup(fns, 0, (e) => errors.push(e));
  assert.equal(errors.length, 1);
  assert.equal(first.actions.length, limits.storeBatchActionsMax, "bounded by touched objects");
  assert.ok(first.next < n);
  assert.deepEqual(
    s.view((tx) => tx.count("tasks")),
    0,
    "nothing applied",
  );
  assert.ok(s.apply(first.actions, 1).ok);
  assert.equal(s.view((tx) => tx.get("tasks", "t0"))!.nodeId, "x");
  assert.equal(
    s.view((tx) => tx.get("tasks", "t2")),
    undefined,
  );
  const second = s.prepareGroup(fns, first.next, (e) => errors.push(e));
  assert.equal(second.next, n);
  assert.ok(s.apply(second.actions, 2).ok);
  assert.equal(
    s.view((tx) => tx.count("tasks")),
    n - 2,
  );
});
