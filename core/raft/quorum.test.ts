import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Inflights } from "./inflights.ts";
import { committedIndex, voteResult } from "./quorum.ts";

const voterMatches = fc
  .array(fc.nat(100), { minLength: 1, maxLength: 9 })
  .map((m) => ({ voters: m.map((_, i) => i + 1), match: m }));

test("committedIndex: a majority holds it and no larger index has a majority", () => {
  fc.assert(
    fc.property(voterMatches, ({ voters, match }) => {
      const c = committedIndex(voters, (id) => match[id - 1]!);
      const q = Math.floor(voters.length / 2) + 1;
      assert.ok(match.filter((m) => m >= c).length >= q, "a majority stores the index");
      assert.ok(match.filter((m) => m >= c + 1).length < q, "it is the largest such index");
    }),
  );
});

test("voteResult: won with a majority of grants, lost once a majority is impossible", () => {
  const voters = [1, 2, 3, 4, 5];
  const votes = new Map<number, boolean>([[1, true]]);
  assert.equal(voteResult(voters, votes), "pending");
  votes.set(2, true);
  votes.set(3, false);
  assert.equal(voteResult(voters, votes), "pending");
  votes.set(4, true);
  assert.equal(voteResult(voters, votes), "won");
  const lost = new Map<number, boolean>([
    [1, true],
    [2, false],
    [3, false],
    [4, false],
  ]);
  assert.equal(voteResult(voters, lost), "lost");
  assert.equal(voteResult([1, 2], new Map([[1, true]])), "pending", "two voters need both");
});

test("voteResult: votes from non-voters do not count", () => {
  assert.equal(
    voteResult(
      [1, 2, 3],
      new Map([
        [9, true],
        [8, true],
        [1, true],
      ]),
    ),
    "pending",
  );
});

test("Inflights: bounded window freed from the front", () => {
  const w = new Inflights(3);
  w.add(5);
  w.add(7);
  w.add(9);
  assert.ok(w.full());
  assert.throws(() => w.add(10), /full window/);
  w.freeLE(7);
  assert.equal(w.count(), 1);
  w.freeFirst();
  assert.equal(w.count(), 0);
  assert.throws(() => new Inflights(0));
});
