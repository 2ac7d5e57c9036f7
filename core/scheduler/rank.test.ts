import assert from "node:assert/strict";
import { test } from "node:test";
import { TaskState } from "../model/task-state.ts";
import { Heap } from "./heap.ts";
import { schedule } from "./schedule.ts";
import { makeNode, makePending, makeTask, makeTemplate, makeView } from "./testing.ts";

const running = (id: string, serviceId: string, nodeId: string) =>
  makeTask(id, serviceId, { nodeId, state: TaskState.RUNNING });

test("heap pops in order", () => {
  const input = [5, 3, 9, 1, 7, 3, 0, 8];
  const heap = new Heap<number>((a, b) => a < b, input);
  heap.push(4);
  const out: number[] = [];
  for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x);
  assert.deepEqual(
    out,
    [...input, 4].sort((a, b) => a - b),
  );
});

test("fewest tasks of this service wins over fewest tasks overall", () => {
  // n0 runs 1 task of svc; n1 runs 3 tasks of other services.
  const tasks = [
    running("s", "svc", "n0"),
    running("o1", "other", "n1"),
    running("o2", "other", "n1"),
    running("o3", "other", "n1"),
    ...makePending("svc", 1, makeTemplate()),
  ];
  for (let seed = 0; seed < 10; seed++) {
    const plan = schedule(makeView([makeNode("n0"), makeNode("n1")], tasks), { seed });
    assert.equal(plan.assignments.get("svc.1"), "n1");
  }
});

test("with equal service counts, fewest tasks overall wins", () => {
  const tasks = [running("o1", "other", "n0"), ...makePending("svc", 1, makeTemplate())];
  for (let seed = 0; seed < 10; seed++) {
    const plan = schedule(makeView([makeNode("n0"), makeNode("n1")], tasks), { seed });
    assert.equal(plan.assignments.get("svc.1"), "n1");
  }
});

test("nodes where the service recently failed go last, even when emptier", () => {
  const tasks = [
    running("s1", "svc", "n1"),
    running("s2", "svc", "n1"),
    ...makePending("svc", 3, makeTemplate()),
  ];
  const failures = new Map([["svc", new Set(["n0"])]]);
  const plan = schedule(makeView([makeNode("n0"), makeNode("n1")], tasks, [], failures), {
    seed: 1,
  });
  // n1 takes all three although it already runs two; failures for other services do not count.
  assert.deepEqual([...plan.assignments.values()], ["n1", "n1", "n1"]);
  const other = new Map([["else", new Set(["n0"])]]);
  const plan2 = schedule(makeView([makeNode("n0"), makeNode("n1")], tasks, [], other), {
    seed: 1,
  });
  // Without a failure n0 (empty) takes tasks until it is level with n1; the third is a tie.
  assert.deepEqual([...plan2.assignments.values()].slice(0, 2), ["n0", "n0"]);
});

test("a recently failed node is still used when it is the only one left", () => {
  const failures = new Map([["svc", new Set(["n0"])]]);
  const view = makeView([makeNode("n0")], makePending("svc", 2, makeTemplate()), [], failures);
  assert.deepEqual([...schedule(view, { seed: 1 }).assignments.values()], ["n0", "n0"]);
});

test("placements within one group are balanced by the counts they update", () => {
  const nodes = Array.from({ length: 5 }, (_, i) => makeNode(`n${i}`));
  const plan = schedule(makeView(nodes, makePending("svc", 23, makeTemplate())), { seed: 9 });
  const per = new Map<string, number>();
  for (const n of plan.assignments.values()) per.set(n, (per.get(n) ?? 0) + 1);
  assert.deepEqual([...per.values()].sort(), [4, 4, 5, 5, 5]);
});

test("ties are broken by the seeded shuffle: seeds spread the first task around", () => {
  const nodes = Array.from({ length: 8 }, (_, i) => makeNode(`n${i}`));
  const firsts = new Set<string>();
  for (let seed = 0; seed < 64; seed++) {
    const plan = schedule(makeView(nodes, makePending("svc", 1, makeTemplate())), { seed });
    firsts.add(plan.assignments.get("svc.1")!);
  }
  assert.ok(firsts.size >= 6, `only ${firsts.size} distinct first choices`);
});
