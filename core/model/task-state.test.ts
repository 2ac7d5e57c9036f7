import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertForward,
  canTransition,
  isActive,
  isTaskState,
  isTerminal,
  parseTaskState,
  TaskState,
  taskStateName,
  taskStateNames,
} from "./task-state.ts";

const order = [
  "NEW",
  "PENDING",
  "ASSIGNED",
  "ACCEPTED",
  "PREPARING",
  "READY",
  "STARTING",
  "RUNNING",
  "COMPLETE",
  "SHUTDOWN",
  "FAILED",
  "REJECTED",
  "REMOVE",
  "ORPHANED",
] as const;

test("task states are strictly increasing in DESIGN order, with room between them", () => {
  assert.deepEqual(taskStateNames, [...order]);
  for (let i = 1; i < order.length; i++) {
    const gap = TaskState[order[i]!] - TaskState[order[i - 1]!];
    assert.ok(gap >= 32, `${order[i]} leaves room after ${order[i - 1]} (gap ${gap})`);
  }
});

test("states only move forward", () => {
  for (const a of order) {
    for (const b of order) {
      const ok = order.indexOf(b) >= order.indexOf(a);
      assert.equal(canTransition(TaskState[a], TaskState[b]), ok, `${a} -> ${b}`);
      if (ok) assertForward(TaskState[a], TaskState[b]);
      else assert.throws(() => assertForward(TaskState[a], TaskState[b]), /moved backwards/);
    }
  }
});

test("names round-trip and unknown values are rejected", () => {
  for (const name of order) {
    assert.equal(taskStateName(TaskState[name]), name);
    assert.equal(parseTaskState(name.toLowerCase()), TaskState[name]);
  }
  assert.equal(parseTaskState("sleeping"), undefined);
  assert.equal(isTaskState(65), false);
  assert.equal(isTaskState("RUNNING"), false);
  assert.equal(isTaskState(TaskState.RUNNING), true);
});

test("terminal and active states", () => {
  assert.equal(isTerminal(TaskState.RUNNING), false);
  assert.equal(isTerminal(TaskState.COMPLETE), true);
  assert.equal(isTerminal(TaskState.ORPHANED), true);
  assert.equal(isActive(TaskState.PENDING), false);
  assert.equal(isActive(TaskState.ASSIGNED), true);
  assert.equal(isActive(TaskState.RUNNING), true);
  assert.equal(isActive(TaskState.FAILED), false);
});
