// Store throughput with a fleet-sized state loaded: single-object transactions, batched task
// writes, and the cost of fanning events out to watchers (relative to no watchers).

import { makeNode, makeService, makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { Store } from "../../core/store/store.ts";
import { type Bench, numberFlag, table } from "./run.ts";

function load(nodes: number, tasks: number): Store {
  const s = new Store();
  s.batch((b) => {
    for (let i = 0; i < nodes; i++) b.update((tx) => tx.create("nodes", makeNode(`n${i}`)));
    b.update((tx) => tx.create("services", makeService("s0", { name: "bench" })));
    for (let i = 0; i < tasks; i++) {
      b.update((tx) =>
        tx.create("tasks", makeTask(`t${i}`, "s0", { slot: i + 1, nodeId: `n${i % nodes}` })),
      );
    }
  });
  return s;
}

function timeIt(fn: () => number): { ops: number; seconds: number } {
  const t0 = process.hrtime.bigint();
  const ops = fn();
  return { ops, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

function singleWrites(s: Store, count: number, tasks: number): number {
  for (let i = 0; i < count; i++) {
    const id = `t${(i * 7919) % tasks}`;
    s.update((tx) => {
      const t = tx.get("tasks", id)!;
      tx.update("tasks", { ...t, status: { ...t.status, state: TaskState.RUNNING, timestamp: i } });
    });
  }
  return count;
}

function batchedWrites(s: Store, count: number, tasks: number): number {
  s.batch((b) => {
    for (let i = 0; i < count; i++) {
      const id = `t${(i * 104729) % tasks}`;
      b.update((tx) => {
        const t = tx.get("tasks", id)!;
        tx.update("tasks", { ...t, status: { ...t.status, message: `m${i}`, timestamp: i } });
      });
    }
  });
  return count;
}

export const bench: Bench = {
  description: "store transactions/s with 10k nodes and 100k tasks loaded; watch fan-out cost",
  async run({ args, log }) {
    const nodes = numberFlag(args, "nodes", 10_000);
    const tasks = numberFlag(args, "tasks", 100_000);
    const count = numberFlag(args, "ops", 20_000);
    const loadTime = timeIt(() => {
      load(nodes, tasks);
      return nodes + tasks;
    });
    const s = load(nodes, tasks);
    const single = timeIt(() => singleWrites(s, count, tasks));
    const batched = timeIt(() => batchedWrites(s, count * 5, tasks));
    const watchers = Array.from({ length: 10 }, () => s.watch({ tables: ["tasks"] }));
    const watched = timeIt(() => singleWrites(s, count, tasks));
    const drained = watchers.reduce((n, w) => n + w.drain().length, 0);
    for (const w of watchers) w.close();
    const rate = (r: { ops: number; seconds: number }) => Math.round(r.ops / r.seconds);
    const txPerSec = rate(single);
    const watchedTxPerSec = rate(watched);
    log(
      table([
        ["measure", "ops", "seconds", "per second"],
        ["load (objects, batched)", loadTime.ops, loadTime.seconds.toFixed(2), rate(loadTime)],
        ["single-task transactions", single.ops, single.seconds.toFixed(2), txPerSec],
        ["batched task writes", batched.ops, batched.seconds.toFixed(2), rate(batched)],
        ["transactions, 10 watchers", watched.ops, watched.seconds.toFixed(2), watchedTxPerSec],
      ]),
    );
    log(`events delivered to watchers: ${drained}`);
    log(
      `watch fan-out: 10 watchers run at ${(watchedTxPerSec / txPerSec).toFixed(2)}x the no-watcher rate`,
    );
    return {
      txPerSec,
      batchedTasksPerSec: rate(batched),
      watchedTxPerSec,
      watchFanoutRatio: Number((watchedTxPerSec / txPerSec).toFixed(3)),
      nodes,
      tasks,
    };
  },
};
