// Task status: validated, batched into store writes (every 100 ms or 1,000 updates), and only
// ever moving forward. Backwards, unknown and foreign updates are dropped and counted.

import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../../core/limits.ts";
import { makeCluster, makeNode, makeService, makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { StoreError } from "../../core/store/actions.ts";
import { Store } from "../../core/store/store.ts";
import type { WriteTx } from "../../core/store/tx.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { harness } from "./testing.ts";

const S = TaskState;

function fleet(tasks: number): Store {
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", makeCluster("c1"));
    tx.create("services", makeService("web"));
    tx.create("nodes", makeNode("n1"));
    tx.create("nodes", makeNode("n2"));
  });
  store.batch((b) => {
    for (let i = 0; i < tasks; i++) {
      b.update((tx) =>
        tx.create(
          "tasks",
          makeTask(`t${i}`, "web", {
            slot: i + 1,
            nodeId: "n1",
            status: { state: S.ASSIGNED, timestamp: 0, message: "assigned" },
          }),
        ),
      );
    }
  });
  return store;
}

const stateOf = (store: Store, id: string) => store.view((tx) => tx.get("tasks", id))?.status;

test("2,500 status updates become 3 store writes (1,000 a batch, rest on the timer)", async () => {
  const h = harness({ store: fleet(2500) });
  await h.dispatcher.start();
  await h.hello("n1");
  await h.clock.advance(100);
  const before = h.commits();
  // 25 messages of 100 updates, as agents send them.
  for (let m = 0; m < 25; m++) {
    const updates = Array.from({ length: 100 }, (_, i) => ({
      taskId: `t${m * 100 + i}`,
      state: S.RUNNING,
      timestamp: 5,
      message: "started",
      containerId: `c${m * 100 + i}`,
    }));
    await h.status("n1", updates);
  }
  await h.clock.advance(100);
  const writes = h.commits() - before;
  assert.equal(writes, 3, `store writes for 2,500 updates: ${writes}`);
  const st = h.dispatcher.stats();
  assert.equal(st.tasksWritten, 2500);
  assert.equal(stateOf(h.store, "t0")!.state, S.RUNNING);
  assert.equal(stateOf(h.store, "t2499")!.containerId, "c2499");
  await h.dispatcher.stop();
});

test("a few updates wait for the 100 ms timer, then go in one write", async () => {
  const h = harness({ store: fleet(10) });
  await h.dispatcher.start();
  await h.hello("n1");
  await h.clock.advance(100);
  const before = h.commits();
  await h.status("n1", [{ taskId: "t0", state: S.ACCEPTED, timestamp: 1, message: "accepted" }]);
  await h.clock.advance(50);
  await h.status("n1", [{ taskId: "t1", state: S.PREPARING, timestamp: 2, message: "pulling" }]);
  assert.equal(h.commits(), before, "nothing written before the interval");
  await h.clock.advance(50);
  assert.equal(h.commits(), before + 1);
  assert.equal(stateOf(h.store, "t0")!.state, S.ACCEPTED);
  assert.equal(stateOf(h.store, "t1")!.state, S.PREPARING);
  await h.dispatcher.stop();
});

test("backwards, unknown and foreign updates are dropped; the rest applies", async () => {
  const h = harness({ store: fleet(3) });
  await h.dispatcher.start();
  await h.hello("n1");
  await h.hello("n2");
  await h.status("n1", [{ taskId: "t0", state: S.RUNNING, timestamp: 1, message: "up" }]);
  await h.clock.advance(100);
  await h.status("n1", [
    { taskId: "t0", state: S.STARTING, timestamp: 2, message: "back in time" },
    { taskId: "nope", state: S.RUNNING, timestamp: 2, message: "who?" },
    { taskId: "t1", state: S.FAILED, timestamp: 2, message: "boom", err: "exit 1", exitCode: 1 },
  ]);
  await h.status("n2", [{ taskId: "t2", state: S.RUNNING, timestamp: 2, message: "not mine" }]);
  // Within one batch, a later update may not undo an earlier one either.
  await h.status("n1", [
    { taskId: "t2", state: S.RUNNING, timestamp: 3, message: "up" },
    { taskId: "t2", state: S.PREPARING, timestamp: 4, message: "late" },
  ]);
  await h.clock.advance(100);
  assert.equal(stateOf(h.store, "t0")!.state, S.RUNNING);
  assert.deepEqual(
    { ...stateOf(h.store, "t1") },
    { state: S.FAILED, timestamp: 2, message: "boom", err: "exit 1", exitCode: 1 },
  );
  assert.equal(stateOf(h.store, "t2")!.state, S.RUNNING);
  const d = h.dispatcher.stats().dropped;
  assert.equal(d.backwards, 2);
  assert.equal(d.unknown_task, 1);
  assert.equal(d.wrong_node, 1);
  await h.dispatcher.stop();
});

test("an update made stale before the flush is dropped at write time", async () => {
  const h = harness({ store: fleet(1) });
  await h.dispatcher.start();
  await h.hello("n1");
  await h.status("n1", [{ taskId: "t0", state: S.STARTING, timestamp: 1, message: "starting" }]);
  // The orchestrator moves the task on (say, to another node) before the batch is written.
  h.store.update((tx) => tx.update("tasks", { ...tx.get("tasks", "t0")!, nodeId: "n2" }));
  await h.clock.advance(100);
  assert.equal(stateOf(h.store, "t0")!.state, S.ASSIGNED);
  assert.equal(h.dispatcher.stats().dropped.wrong_node, 1);
  await h.dispatcher.stop();
});

test("hello reconciles the task statuses the agent reports; repeats cost nothing", async () => {
  const h = harness({ store: fleet(2) });
  await h.dispatcher.start();
  const tasks = [
    { taskId: "t0", state: S.RUNNING, timestamp: 9, message: "adopted", containerId: "c0" },
    { taskId: "t1", state: S.COMPLETE, timestamp: 9, message: "exited", exitCode: 0 },
  ];
  await h.hello("n1", { tasks });
  await h.clock.advance(100);
  assert.equal(stateOf(h.store, "t0")!.state, S.RUNNING);
  assert.equal(stateOf(h.store, "t1")!.state, S.COMPLETE);
  const writes = h.dispatcher.stats().tasksWritten;
  await h.status("n1", tasks);
  await h.clock.advance(100);
  assert.equal(h.dispatcher.stats().tasksWritten, writes, "identical reports are not rewritten");
  assert.equal(h.dispatcher.stats().statusUnchanged, 2);
  await h.dispatcher.stop();
});

test("a status message also proves the node alive", async () => {
  const h = harness({ store: fleet(1) });
  await h.dispatcher.start();
  await h.hello("n1");
  for (let i = 0; i < 6; i++) {
    await h.clock.advance(4000);
    await h.status("n1", [{ taskId: "t0", state: S.RUNNING, timestamp: i, message: `m${i}` }]);
  }
  assert.equal(h.store.view((tx) => tx.get("nodes", "n1"))!.status.state, "ready");
  await h.dispatcher.stop();
});

/** A writer whose next `failures` updates reject, as a Raft-backed one can. */
class FlakyWriter extends LocalWriter {
  failures = 0;
  retryable = true;

  override async update<R>(fn: (tx: WriteTx) => R): Promise<R> {
    if (this.failures > 0) {
      this.failures--;
      if (this.retryable) throw new StoreError("out_of_sequence", "update out of sequence: test");
      throw new StoreError("invalid", "refused: test");
    }
    return super.update(fn);
  }
}

test("a conflicting status write is retried; a refused one is dropped and counted", async () => {
  const writer = new FlakyWriter(fleet(2));
  const h = harness({ writer });
  await h.dispatcher.start();
  await h.hello("n1");
  await h.clock.advance(100);
  writer.failures = 2;
  await h.status("n1", [{ taskId: "t0", state: S.RUNNING, timestamp: 1, message: "up" }]);
  await h.clock.advance(500);
  assert.equal(stateOf(h.store, "t0")!.state, S.RUNNING, "written on the third attempt");
  writer.failures = 1;
  writer.retryable = false;
  await h.status("n1", [{ taskId: "t1", state: S.RUNNING, timestamp: 1, message: "up" }]);
  await h.clock.advance(500);
  assert.equal(stateOf(h.store, "t1")!.state, S.ASSIGNED);
  assert.equal(h.dispatcher.stats().dropped.write_failed, 1);
  // Conflicts forever: given up after limits.statusWriteRetriesMax retries, no busy loop.
  writer.failures = 1000;
  writer.retryable = true;
  await h.status("n1", [{ taskId: "t1", state: S.RUNNING, timestamp: 2, message: "up" }]);
  await h.clock.advance(2000);
  assert.equal(1000 - writer.failures, limits.statusWriteRetriesMax + 1);
  writer.failures = 0;
  await h.dispatcher.stop();
});
