import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeConfChange } from "./confchange.ts";
import { applyChange, Membership } from "./membership.ts";
import type { ConfChange, Entry } from "./types.ts";

const conf = (index: number, cc: ConfChange): Entry => ({
  index,
  term: 1,
  type: "conf",
  data: encodeConfChange(cc),
});
const normal = (index: number): Entry => ({
  index,
  term: 1,
  type: "normal",
  data: new Uint8Array(),
});

test("applyChange: add, promote, demote, remove; the last voter stays", () => {
  let cs = { voters: [1, 2], learners: [] as number[] };
  cs = applyChange(cs, { type: "addLearner", nodeId: 3 });
  assert.deepEqual(cs, { voters: [1, 2], learners: [3] });
  cs = applyChange(cs, { type: "addVoter", nodeId: 3 });
  assert.deepEqual(cs, { voters: [1, 2, 3], learners: [] });
  cs = applyChange(cs, { type: "addLearner", nodeId: 1 });
  assert.deepEqual(cs, { voters: [2, 3], learners: [1] });
  cs = applyChange(cs, { type: "removeNode", nodeId: 1 });
  assert.deepEqual(cs, { voters: [2, 3], learners: [] });
  const single = { voters: [2], learners: [] };
  assert.deepEqual(applyChange(single, { type: "removeNode", nodeId: 2 }), single);
});

test("Membership: a change takes effect when appended and is undone when truncated", () => {
  const m = new Membership({ voters: [1, 2, 3], learners: [] });
  assert.equal(m.onAppend([normal(2), conf(3, { type: "removeNode", nodeId: 3 })]), true);
  assert.deepEqual(m.current().voters, [1, 2]);
  assert.equal(m.lastChangeIndex(), 3);
  assert.deepEqual(m.at(2).voters, [1, 2, 3], "as of index 2 the old configuration holds");
  // A new leader overwrites index 3 with a normal entry: the removal never happened.
  assert.equal(m.onAppend([normal(3)]), true);
  assert.deepEqual(m.current().voters, [1, 2, 3]);
  assert.equal(m.onAppend([normal(4)]), false, "plain entries change nothing");
  m.restore({ voters: [7], learners: [8] });
  assert.deepEqual(m.current(), { voters: [7], learners: [8] });
});
