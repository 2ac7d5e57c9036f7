// RawNode behaviour that scenario traces do not pin down: byte bounds on every message,
// the Ready contract, ReadIndex ordering, and requests refused with typed errors.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { encodeCbor } from "../../core/codec/cbor.ts";
import { limits } from "../../core/limits.ts";
import { entriesBytes, isRaftError, MemoryStorage, RawNode } from "../../core/raft/index.ts";
import { createRng } from "../../core/rand.ts";
import { Cluster } from "./cluster.ts";

const enc = new TextEncoder();

function errorOf(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

test("every message stays within the append, chunk and raft message byte limits", () => {
  const chunk = 4096;
  const appendMax = 64 * 1024;
  fc.assert(
    fc.property(fc.array(fc.nat(limits.raftEntryBytesMax - 64), { maxLength: 12 }), (sizes) => {
      const c = new Cluster(3, { maxAppendBytes: appendMax, snapshotChunkBytes: chunk });
      c.elect(1);
      c.filter = (m) => m.to !== 3; // 3 falls behind and will need a snapshot
      for (const n of sizes) c.get(1).propose(new Uint8Array(n));
      c.stabilize();
      const s = c.members.get(1)!.storage;
      const applied = c.get(1).status().applied;
      s.createSnapshot(applied, c.get(1).confStateAt(applied), new Uint8Array(3 * chunk + 5));
      s.compact(applied);
      c.filter = () => true;
      c.get(1).tick();
      c.stabilize();
      for (const m of c.sent) {
        encodeCbor(m, limits.raftMessageBytesMax); // throws when over the bound
        if (m.entries.length > 1) assert.ok(entriesBytes(m.entries) <= appendMax);
        if (m.snapshot) assert.ok(m.snapshot.data.length <= chunk);
      }
      assert.equal(c.get(3).status().hardState.commit, c.get(1).status().hardState.commit);
    }),
    { numRuns: 15 },
  );
});

test("a proposal over raftEntryBytesMax is refused with a typed error", () => {
  const c = new Cluster(1);
  c.elect(1);
  const err = errorOf(() => c.get(1).propose(new Uint8Array(limits.raftEntryBytesMax)));
  assert.ok(isRaftError(err, "proposalTooLarge"));
  c.get(1).propose(new Uint8Array(1000)); // a normal one still works
});

test("too many uncommitted bytes: the leader refuses more until they commit", () => {
  const c = new Cluster(3, { maxUncommittedBytes: 1000 });
  c.elect(1);
  c.filter = () => false; // followers unreachable: nothing commits
  c.get(1).propose(new Uint8Array(600));
  const err = errorOf(() => c.get(1).propose(new Uint8Array(600)));
  assert.ok(isRaftError(err, "proposalDropped"));
  c.filter = () => true;
  c.get(1).tick();
  c.stabilize();
  c.get(1).propose(new Uint8Array(600)); // committed bytes were released
});

test("without a leader a proposal is dropped with a retryable error", () => {
  const c = new Cluster(3);
  const err = errorOf(() => c.get(2).propose(enc.encode("x")));
  assert.ok(isRaftError(err, "proposalDropped"));
  assert.equal((err as { retryable: boolean }).retryable, true);
});

test("a follower forwards proposals to its leader", () => {
  const c = new Cluster(3);
  c.elect(1);
  c.get(3).propose(enc.encode("via-3"));
  c.stabilize();
  const last = c.members.get(1)!.storage.lastIndex();
  const [e] = c.members.get(2)!.storage.entries(last, last + 1, Infinity);
  assert.equal(new TextDecoder().decode(e!.data), "via-3");
});

test("Ready: only a moved commit index needs no fsync", () => {
  const c = new Cluster(3);
  c.elect(1);
  c.get(1).propose(enc.encode("x"));
  c.stabilize();
  const readies = c.members.get(2)!.readies;
  const commitOnly = readies.filter(
    (r) => r.hardState && r.entries.length === 0 && !r.snapshot && r.softState === undefined,
  );
  assert.ok(commitOnly.length > 0);
  for (const r of readies) {
    const needs = r.entries.length > 0 || r.snapshot !== undefined;
    if (needs) assert.equal(r.mustSync, true);
  }
  assert.ok(commitOnly.some((r) => r.mustSync === false));
});

test("ReadIndex waits for the new leader's first commit in its term (§6.4)", () => {
  const c = new Cluster(3);
  c.get(1).campaign();
  // Run the election but hold back the acknowledgements of the leader's no-op.
  c.filter = (m) => m.type !== "appResp";
  c.stabilize();
  assert.equal(c.get(1).state, "leader");
  c.get(1).readIndex(enc.encode("r"));
  c.stabilize();
  const reads = () => c.members.get(1)!.readies.flatMap((r) => r.readStates);
  assert.equal(reads().length, 0, "no read before the no-op commits");
  c.filter = () => true;
  c.get(1).tick();
  c.stabilize();
  assert.equal(reads().length, 1);
  const noop = c.members.get(1)!.storage.lastIndex();
  assert.equal(reads()[0]!.index, noop);
});

test("a learner never campaigns, however long it waits", () => {
  const c = new Cluster({ voters: [1, 2], learners: [3] });
  for (let i = 0; i < 100; i++) c.get(3).tick();
  c.processReadies();
  assert.equal(c.get(3).state, "follower");
  assert.equal(c.sent.filter((m) => m.from === 3).length, 0);
});

test("a restarted node remembers its vote and does not vote twice in a term", () => {
  const c = new Cluster(3);
  c.elect(1);
  const s2 = c.members.get(2)!.storage;
  const restarted = new RawNode({ id: 2, storage: s2, rng: createRng(9) });
  const { term, vote } = restarted.status().hardState;
  assert.equal(vote, 1);
  restarted.step({
    type: "vote",
    from: 3,
    to: 2,
    term,
    logTerm: 99,
    index: 99,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  const rd = restarted.ready();
  assert.equal(rd.messages[0]?.type, "voteResp");
  assert.equal(rd.messages[0]?.reject, true);
});

test("membership changes are refused while one is pending, and on a follower", () => {
  const c = new Cluster(3);
  c.elect(1);
  const pending = errorOf(() => {
    c.get(1).proposeConfChange({ type: "addLearner", nodeId: 4 });
    c.get(1).proposeConfChange({ type: "addLearner", nodeId: 5 });
  });
  assert.ok(isRaftError(pending, "confChangePending"));
  assert.ok(
    isRaftError(
      errorOf(() => c.get(2).proposeConfChange({ type: "addLearner", nodeId: 6 })),
      "notLeader",
    ),
  );
  c.stabilize();
  c.get(1).proposeConfChange({ type: "addLearner", nodeId: 5 }); // the first one committed
  assert.deepEqual(c.get(1).status().currentConfState.learners, [4, 5], "in force when appended");
  assert.deepEqual(c.get(1).status().confState.learners, [4], "not yet applied");
  c.stabilize();
  assert.deepEqual(c.get(1).status().confState.learners, [4, 5]);
});

test("an empty storage with no membership never campaigns (a joining node)", () => {
  const n = new RawNode({ id: 7, storage: new MemoryStorage(), rng: createRng(7) });
  for (let i = 0; i < 100; i++) n.tick();
  assert.equal(n.hasReady(), false);
});

test("a follower told its leader is unreachable campaigns within a few ticks, and wins", () => {
  const c = new Cluster(3);
  c.elect(1);
  c.filter = (m) => m.from !== 1 && m.to !== 1; // the leader is gone
  for (const id of [2, 3]) c.get(id).leaderUnreachable();
  let ticks = 0;
  while (![2, 3].some((id) => c.get(id).state === "leader") && ticks < 5) {
    for (const id of [2, 3]) c.get(id).tick();
    c.stabilize();
    ticks++;
  }
  assert.ok(ticks <= 4, `elected after ${ticks} ticks, not a full election timeout (10+)`);
  assert.ok([2, 3].some((id) => c.get(id).state === "leader"));
});

test("without the hint, followers wait out the election timeout (the lease holds)", () => {
  const c = new Cluster(3);
  c.elect(1);
  c.filter = (m) => m.from !== 1 && m.to !== 1;
  for (let t = 0; t < 8; t++) {
    for (const id of [2, 3]) c.get(id).tick();
    c.stabilize();
  }
  assert.ok(![2, 3].some((id) => c.get(id).state === "leader"));
});
