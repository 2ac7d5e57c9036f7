import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftLog } from "./log.ts";
import { MemoryStorage } from "./storage.ts";
import { type Entry, entryOverheadBytes, isRaftError } from "./types.ts";

const e = (index: number, term: number, bytes = 0): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array(bytes),
});

function logWith(stable: Entry[], unstable: Entry[] = []): RaftLog {
  const s = new MemoryStorage();
  s.append(stable);
  const log = new RaftLog(s, Infinity);
  log.append(unstable);
  return log;
}

test("maybeAppend: rejects a mismatched predecessor, truncates a conflicting suffix", () => {
  const log = logWith([e(1, 1), e(2, 1)], [e(3, 2), e(4, 2)]);
  assert.equal(log.maybeAppend(4, 1, 0, [e(5, 3)]), undefined, "term at 4 is 2, not 1");
  assert.equal(log.maybeAppend(2, 1, 3, [e(3, 3)]), 3);
  assert.equal(log.lastIndex(), 3, "entry 4 followed the replaced entry 3");
  assert.equal(log.term(3), 3);
  assert.equal(log.committed, 3, "commit follows the leader up to the last new entry");
});

test("maybeAppend: duplicates of entries we hold change nothing", () => {
  const log = logWith([e(1, 1), e(2, 1), e(3, 1)]);
  assert.equal(log.maybeAppend(0, 0, 1, [e(1, 1), e(2, 1)]), 2);
  assert.equal(log.lastIndex(), 3, "a stale append never truncates newer matching entries");
  assert.equal(log.committed, 1);
});

test("committed entries are never overwritten", () => {
  const log = logWith([e(1, 1), e(2, 1)]);
  log.commitTo(2);
  assert.throws(() => log.maybeAppend(1, 1, 2, [e(2, 2)]), /conflicts with committed/);
  assert.throws(() => log.commitTo(5), /beyond last index/);
});

test("maybeCommit: only an entry of the current term commits by counting (§3.6.2)", () => {
  const log = logWith([e(1, 1), e(2, 2)]);
  assert.equal(log.maybeCommit(1, 2), false, "entry 1 is from term 1");
  assert.equal(log.committed, 0);
  assert.equal(log.maybeCommit(2, 2), true);
  assert.equal(log.committed, 2);
});

test("slice spans storage and the unstable tail and honours the byte limit", () => {
  const log = logWith([e(1, 1, 10), e(2, 1, 10)], [e(3, 1, 10), e(4, 1, 10)]);
  assert.deepEqual(
    log.slice(2, 5, Infinity).map((x) => x.index),
    [2, 3, 4],
  );
  const two = 2 * (10 + entryOverheadBytes);
  assert.deepEqual(
    log.slice(1, 5, two).map((x) => x.index),
    [1, 2],
  );
  assert.equal(log.slice(1, 5, 0).length, 1, "at least one entry");
});

test("reads below a compacted log say so", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 1), e(3, 1)]);
  s.createSnapshot(2, { voters: [1], learners: [] }, new Uint8Array());
  s.compact(2);
  const log = new RaftLog(s, Infinity);
  assert.equal(log.firstIndex(), 3);
  assert.equal(log.term(2), 1);
  assert.ok(
    isRaftError(
      catchErr(() => log.term(1)),
      "compacted",
    ),
  );
  assert.ok(
    isRaftError(
      catchErr(() => log.entriesFrom(1, Infinity)),
      "compacted",
    ),
  );
  assert.equal(log.termOrZero(1), 0);
});

test("isUpToDate compares last term first, then length (§3.6.1)", () => {
  const log = logWith([e(1, 1), e(2, 2)]);
  assert.equal(log.isUpToDate(5, 1), false);
  assert.equal(log.isUpToDate(1, 3), true);
  assert.equal(log.isUpToDate(2, 2), true);
  assert.equal(log.isUpToDate(1, 2), false);
});

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
