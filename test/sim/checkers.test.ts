// The checkers must be able to fail: each test feeds a known-bad history or log, or runs the
// simulator with a bug injected, and expects a rejection.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Entry } from "../../core/raft/index.ts";
import { type LogView, SafetyChecker, SafetyViolation } from "./checkers.ts";
import { checkLinearizable, type Operation } from "./linearizability.ts";
import { runSeed } from "./sim.ts";

const put = (key: string, value: string, invoke: number, respond: number): Operation => ({
  key,
  op: { kind: "put", value },
  invoke,
  respond,
  output: respond === Infinity ? undefined : null,
});
const get = (key: string, output: string | null, invoke: number, respond: number): Operation => ({
  key,
  op: { kind: "get" },
  invoke,
  respond,
  output,
});
const cas = (
  key: string,
  expect: string | null,
  value: string,
  output: boolean,
  invoke: number,
  respond: number,
): Operation => ({ key, op: { kind: "cas", expect, value }, invoke, respond, output });

test("linearizability: a sequential history that follows the model passes", () => {
  const h = [put("a", "1", 0, 1), get("a", "1", 2, 3), cas("a", "1", "2", true, 4, 5)];
  assert.equal(checkLinearizable([...h, get("a", "2", 6, 7)]).verdict, "ok");
});

test("linearizability: a stale read after a completed write is rejected", () => {
  const h = [put("a", "1", 0, 1), get("a", null, 2, 3)];
  const r = checkLinearizable(h);
  assert.equal(r.verdict, "illegal");
  assert.equal(r.key, "a");
});

test("linearizability: overlapping operations may take effect in either order", () => {
  // The read overlaps the write: both the old and the new value are legal.
  assert.equal(checkLinearizable([put("a", "1", 0, 3), get("a", null, 1, 2)]).verdict, "ok");
  assert.equal(checkLinearizable([put("a", "1", 0, 3), get("a", "1", 1, 2)]).verdict, "ok");
});

test("linearizability: a cas result that contradicts the state is rejected", () => {
  const h = [put("a", "1", 0, 1), cas("a", null, "2", true, 2, 3)];
  assert.equal(checkLinearizable(h).verdict, "illegal");
});

test("linearizability: a pending write may or may not have happened", () => {
  const pending = put("a", "1", 0, Infinity);
  assert.equal(checkLinearizable([pending, get("a", "1", 1, 2)]).verdict, "ok");
  assert.equal(checkLinearizable([pending, get("a", null, 1, 2)]).verdict, "ok");
  // ...but not un-happen once observed.
  const h = [pending, get("a", "1", 1, 2), get("a", null, 3, 4)];
  assert.equal(checkLinearizable(h).verdict, "illegal");
});

test("linearizability: keys are checked independently and a violation names its key", () => {
  const h = [put("a", "1", 0, 1), put("b", "1", 0, 1), get("a", "1", 2, 3), get("b", "2", 2, 3)];
  assert.equal(checkLinearizable(h).key, "b");
});

test("linearizability: past the effort bound the verdict is unknown, not ok", () => {
  // Many concurrent writes and an impossible read: proving illegality needs a wide search.
  const h: Operation[] = [];
  for (let i = 0; i < 14; i++) h.push(put("a", `${i}`, i, 100 + i));
  h.push(get("a", "never", 50, 60));
  assert.equal(checkLinearizable(h, 50).verdict, "unknown");
  assert.equal(checkLinearizable(h).verdict, "illegal");
});

const ent = (index: number, term: number, text = "x"): Entry => ({
  index,
  term,
  type: "normal",
  data: new TextEncoder().encode(text),
});

function view(terms: number[], snapshotIndex = 0): LogView {
  return { term: (i) => (i === 0 ? 0 : terms[i - 1]), snapshotIndex: () => snapshotIndex };
}

test("safety: two leaders in one term are caught", () => {
  const c = new SafetyChecker();
  c.onLeader(1, 5, view([]));
  c.onLeader(1, 5, view([]));
  assert.throws(() => c.onLeader(2, 5, view([])), SafetyViolation);
});

test("safety: the same (index, term) with different content breaks log matching", () => {
  const c = new SafetyChecker();
  c.onPersist(1, [ent(1, 1, "a"), ent(2, 1, "b")], 0);
  c.onPersist(2, [ent(1, 1, "a")], 0);
  assert.throws(() => c.onPersist(3, [ent(2, 1, "c")], 1), /log matching/);
  assert.throws(() => c.onPersist(3, [ent(2, 1, "b")], 7), /log matching/);
});

test("safety: a leader missing a committed entry breaks leader completeness", () => {
  const c = new SafetyChecker();
  c.onCommit(1, 2, view([1, 1]));
  c.onLeader(2, 2, view([1, 1, 2]));
  assert.throws(() => c.onLeader(3, 3, view([1, 2])), /leader completeness/);
});

test("safety: different entries applied at one index break state machine safety", () => {
  const c = new SafetyChecker();
  c.onApply(1, ent(3, 2, "a"));
  c.onApply(2, ent(3, 2, "a"));
  assert.throws(() => c.onApply(3, ent(3, 2, "b")), /state machine safety/);
  c.onCommit(3, 1, view([2]));
  assert.throws(() => c.onCommit(4, 1, view([3])), /state machine safety/);
});

test("simulator: a disk that corrupts one entry is caught by the safety checkers", () => {
  let caught = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const r = runSeed({ seed, bug: "corruptEntry" });
    if (!r.ok && r.failure?.startsWith("safety")) caught++;
  }
  assert.ok(caught >= 5, `caught ${caught} of 10`);
});

test("simulator: acknowledging before persisting is caught", () => {
  let caught = 0;
  for (let seed = 1; seed <= 60 && caught === 0; seed++) {
    if (!runSeed({ seed, bug: "sendBeforePersist" }).ok) caught++;
  }
  assert.ok(caught > 0, "no seed in 1..60 noticed acknowledgements sent before fsync");
});

test("simulator: reads served without ReadIndex are caught as non-linearizable", () => {
  let caught = 0;
  for (let seed = 1; seed <= 100 && caught === 0; seed++) {
    const r = runSeed({ seed, bug: "staleReads" });
    if (r.linearizable === "illegal") caught++;
  }
  assert.ok(caught > 0, "no seed in 1..100 exposed a stale read");
});

test("simulator: the same seed replays the same run", () => {
  const a = runSeed({ seed: 4242 });
  const b = runSeed({ seed: 4242 });
  assert.deepEqual(a, b);
});
