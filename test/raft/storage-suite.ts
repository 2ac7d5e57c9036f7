// The storage conformance suite: every Storage implementation (memory, disk WAL) registers it
// with node:test so both honour the exact contract the Raft core reads.
//
//   storageSuite("MemoryStorage", { make: async () => new MemoryStorage() });
//   storageSuite("DiskStorage", { make, reopen, cleanup });   // reopen checks durability

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { WritableStorage } from "../../core/raft/storage.ts";
import { type Entry, entryOverheadBytes, isRaftError } from "../../core/raft/types.ts";

export interface StorageHarness<S extends WritableStorage> {
  /** A fresh, empty storage. */
  make(): Promise<S>;
  /** Closes and opens the same storage again (disk only): the state must survive. */
  reopen?(s: S): Promise<S>;
  cleanup?(s: S): Promise<void>;
}

function ent(index: number, term: number, bytes = 0): Entry {
  return { index, term, type: "normal", data: new Uint8Array(bytes).fill(index & 0xff) };
}

const conf = { voters: [1, 2, 3], learners: [4] };

/** Storage with a snapshot at 3 (term 3) and entries 4..5 (terms 4, 5), as in etcd's tests. */
async function seeded<S extends WritableStorage>(h: StorageHarness<S>): Promise<S> {
  const s = await h.make();
  await s.append([ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 5)]);
  await s.createSnapshot(3, conf, new Uint8Array([3]));
  await s.compact(3);
  return s;
}

function throwsCode(fn: () => unknown, code: "compacted" | "unavailable" | "snapshotOutOfDate") {
  assert.throws(fn, (err) => isRaftError(err, code), `expected RaftError ${code}`);
}

async function throwsCodeAsync(fn: () => unknown, code: "compacted" | "snapshotOutOfDate") {
  await assert.rejects(
    async () => fn(),
    (err) => isRaftError(err, code),
  );
}

export function storageSuite<S extends WritableStorage>(name: string, h: StorageHarness<S>): void {
  const withStorage = (title: string, body: (s: S) => Promise<void> | void, fresh = false) =>
    test(title, async () => {
      const s = fresh ? await h.make() : await seeded(h);
      try {
        await body(s);
      } finally {
        await h.cleanup?.(s);
      }
    });

  describe(`storage suite: ${name}`, () => {
    withStorage(
      "an empty storage starts at index 1 with an empty hard state",
      (s) => {
        assert.equal(s.firstIndex(), 1);
        assert.equal(s.lastIndex(), 0);
        assert.equal(s.term(0), 0);
        assert.deepEqual(s.initialState().hardState, { term: 0, vote: 0, commit: 0 });
        assert.deepEqual(s.entries(1, 1, Infinity), []);
      },
      true,
    );

    withStorage("first/last index and term around a compacted prefix", (s) => {
      assert.equal(s.firstIndex(), 4);
      assert.equal(s.lastIndex(), 5);
      assert.equal(s.term(3), 3, "the snapshot index keeps its term");
      assert.equal(s.term(5), 5);
      throwsCode(() => s.term(2), "compacted");
      throwsCode(() => s.term(6), "unavailable");
    });

    withStorage("entries honours bounds and the byte limit but returns at least one", (s) => {
      throwsCode(() => s.entries(3, 5, Infinity), "compacted");
      throwsCode(() => s.entries(4, 7, Infinity), "unavailable");
      assert.deepEqual(
        s.entries(4, 6, Infinity).map((e) => [e.index, e.term]),
        [
          [4, 4],
          [5, 5],
        ],
      );
      assert.equal(s.entries(4, 6, 0).length, 1, "at least one entry even over the limit");
      assert.equal(s.entries(4, 6, 2 * entryOverheadBytes).length, 2);
      assert.equal(s.entries(4, 6, 2 * entryOverheadBytes - 1).length, 1);
    });

    withStorage("append truncates a conflicting suffix and extends", async (s) => {
      await s.append([ent(5, 6), ent(6, 6)]);
      assert.equal(s.lastIndex(), 6);
      assert.equal(s.term(5), 6);
      await s.append([ent(4, 4), ent(5, 7)]);
      assert.equal(s.lastIndex(), 5, "entry 6 followed a replaced entry and is gone");
      assert.equal(s.term(5), 7);
    });

    withStorage("append ignores entries already compacted", async (s) => {
      await s.append([ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)]);
      assert.equal(s.firstIndex(), 4);
      assert.equal(s.lastIndex(), 6);
      assert.equal(s.term(6), 5);
    });

    withStorage("entries keep their payload bytes", async (s) => {
      await s.append([ent(6, 5, 100)]);
      const [e] = s.entries(6, 7, Infinity);
      assert.equal(e?.data.length, 100);
      assert.equal(e?.data[0], 6);
      assert.equal(e?.type, "normal");
    });

    withStorage("compact moves the first index and refuses to go backwards", async (s) => {
      await s.compact(4);
      assert.equal(s.firstIndex(), 5);
      assert.equal(s.term(4), 4);
      await throwsCodeAsync(() => s.compact(4), "compacted");
    });

    withStorage("createSnapshot records index, term and membership", async (s) => {
      const snap = await s.createSnapshot(5, { voters: [1, 2], learners: [] }, new Uint8Array([9]));
      assert.deepEqual(snap.metadata, {
        index: 5,
        term: 5,
        confState: { voters: [1, 2], learners: [] },
      });
      assert.deepEqual([...s.snapshot().data], [9]);
      assert.equal(s.firstIndex(), 4, "creating a snapshot does not compact");
      await throwsCodeAsync(() => s.createSnapshot(4, conf, new Uint8Array()), "snapshotOutOfDate");
    });

    withStorage("applySnapshot replaces the log and refuses an older snapshot", async (s) => {
      const meta = { index: 10, term: 7, confState: { voters: [1], learners: [] } };
      await s.applySnapshot({ metadata: meta, data: new Uint8Array([1, 2]) });
      assert.equal(s.firstIndex(), 11);
      assert.equal(s.lastIndex(), 10);
      assert.equal(s.term(10), 7);
      assert.deepEqual(s.initialState().confState, meta.confState);
      const old = { ...meta, index: 9 };
      await throwsCodeAsync(
        () => s.applySnapshot({ metadata: old, data: new Uint8Array() }),
        "snapshotOutOfDate",
      );
    });

    withStorage("hard state round-trips", async (s) => {
      await s.setHardState({ term: 5, vote: 2, commit: 4 });
      assert.deepEqual(s.initialState().hardState, { term: 5, vote: 2, commit: 4 });
      assert.deepEqual(s.initialState().confState, conf);
    });

    if (h.reopen) {
      const reopen = h.reopen;
      withStorage("everything survives a reopen", async (first) => {
        await first.append([ent(6, 5, 10)]);
        await first.setHardState({ term: 5, vote: 1, commit: 6 });
        const s = await reopen(first);
        assert.equal(s.firstIndex(), 4);
        assert.equal(s.lastIndex(), 6);
        assert.equal(s.term(3), 3);
        assert.equal(s.entries(6, 7, Infinity)[0]?.data.length, 10);
        assert.deepEqual(s.initialState(), {
          hardState: { term: 5, vote: 1, commit: 6 },
          confState: conf,
        });
        assert.deepEqual([...s.snapshot().data], [3]);
      });
    }
  });
}
