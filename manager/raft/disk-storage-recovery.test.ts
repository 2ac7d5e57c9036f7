// What only the disk storage has to get right: a restart sees exactly what was saved, segments
// go once a snapshot covers them, and damage is either cut off (a torn tail) or refused.
import assert from "node:assert/strict";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import type { Entry } from "../../core/raft/types.ts";
import { DiskStorage } from "./disk-storage.ts";
import { snapshotFileName } from "./snapshot-files.ts";
import { scanSegment } from "./wal-frame.ts";

let dataDir = "";
const logs: string[] = [];
const log = (l: string) => logs.push(l);
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "fleet-disk-"));
  logs.length = 0;
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const walDir = () => join(dataDir, "raft", "wal");
const snapDir = () => join(dataDir, "raft", "snap");
const conf = { voters: [1, 2, 3], learners: [] };

function ents(from: number, to: number, term: number, bytes = 32): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, k) => ({
    index: from + k,
    term,
    type: "normal" as const,
    data: new Uint8Array(bytes).fill((from + k) & 0xff),
  }));
}

async function reopen(s: DiskStorage, segmentBytesMax?: number): Promise<DiskStorage> {
  await s.close();
  return DiskStorage.open(dataDir, { log, segmentBytesMax });
}

test("one Ready (entries + hard state) is durable after save and seen after reopen", async () => {
  let s = await DiskStorage.open(dataDir, { log });
  await s.save({ entries: ents(1, 10, 1), hardState: { term: 1, vote: 2, commit: 7 } });
  s = await reopen(s);
  assert.equal(s.lastIndex(), 10);
  assert.deepEqual(s.entries(1, 11, Infinity), ents(1, 10, 1));
  assert.deepEqual(s.initialState().hardState, { term: 1, vote: 2, commit: 7 });
  await s.close();
});

test("segments covered by a snapshot are released, and nothing needed goes with them", async () => {
  let s = await DiskStorage.open(dataDir, { log, segmentBytesMax: 1024 });
  for (let i = 1; i <= 200; i += 10) {
    await s.save({ entries: ents(i, i + 9, 2), hardState: { term: 2, vote: 1, commit: i + 9 } });
  }
  const before = readdirSync(walDir()).length;
  assert.ok(before > 5, `wrote ${before} segments`);
  await s.createSnapshot(150, conf, new Uint8Array([42]));
  const after = readdirSync(walDir()).length;
  assert.ok(after < before, `released ${before - after} segments`);
  s = await reopen(s, 1024);
  assert.equal(s.firstIndex(), 151);
  assert.equal(s.lastIndex(), 200);
  assert.equal(s.term(150), 2);
  assert.deepEqual(s.entries(151, 201, Infinity), ents(151, 200, 2));
  assert.deepEqual(s.initialState(), {
    hardState: { term: 2, vote: 1, commit: 200 },
    confState: conf,
  });
  await s.close();
});

test("a snapshot from the leader replaces the log, also after reopen", async () => {
  let s = await DiskStorage.open(dataDir, { log });
  await s.save({ entries: ents(1, 20, 1) });
  const snap = { metadata: { index: 15, term: 3, confState: conf }, data: new Uint8Array([7]) };
  await s.save({
    snapshot: snap,
    entries: ents(16, 17, 3),
    hardState: { term: 3, vote: 0, commit: 15 },
  });
  const check = (st: DiskStorage) => {
    assert.equal(st.firstIndex(), 16);
    assert.equal(st.lastIndex(), 17, "stale entries 18..20 of term 1 are gone");
    assert.equal(st.term(17), 3);
  };
  check(s);
  s = await reopen(s);
  check(s);
  assert.deepEqual([...s.snapshot().data], [7]);
  await s.close();
});

test("a damaged newest snapshot falls back to the previous one and says so", async () => {
  let s = await DiskStorage.open(dataDir, { log });
  await s.save({ entries: ents(1, 30, 1), hardState: { term: 1, vote: 1, commit: 30 } });
  await s.createSnapshot(10, conf, new Uint8Array([10]));
  await s.createSnapshot(20, conf, new Uint8Array([20]));
  await s.close();
  const newest = join(snapDir(), snapshotFileName(20, 1));
  const bytes = readFileSync(newest);
  bytes[bytes.length - 1]! ^= 0xff;
  writeFileSync(newest, bytes);
  s = await DiskStorage.open(dataDir, { log });
  assert.equal(s.recovery.skippedSnapshots.length, 1);
  assert.match(s.recovery.skippedSnapshots[0]!, /checksum mismatch/);
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 30);
  assert.deepEqual([...s.snapshot().data], [10]);
  await s.close();
});

test("a snapshot file without its log record (crash in between) is ignored", async () => {
  let s = await DiskStorage.open(dataDir, { log });
  await s.save({ entries: ents(1, 5, 1) });
  await s.close();
  writeFileSync(join(snapDir(), snapshotFileName(5, 1)), "not even a snapshot");
  s = await DiskStorage.open(dataDir, { log });
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 5);
  await s.close();
});

test("a torn WAL tail loses only the last, unfinished Ready, and is reported", async () => {
  let s = await DiskStorage.open(dataDir, { log });
  await s.save({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 1, commit: 5 } });
  await s.save({ entries: ents(6, 8, 1), hardState: { term: 1, vote: 1, commit: 8 } });
  await s.close();
  const seg = join(walDir(), readdirSync(walDir())[0]!);
  truncateSync(seg, statSync(seg).size - 7);
  s = await DiskStorage.open(dataDir, { log });
  assert.ok(s.recovery.torn, "the truncation is reported");
  assert.ok(s.recovery.torn.droppedBytes > 0);
  assert.equal(s.lastIndex(), 8, "entries of the cut batch before the cut survive");
  assert.deepEqual(s.initialState().hardState, { term: 1, vote: 1, commit: 5 });
  await s.close();
});

test("a record from an unknown future format is a hard error, not skipped", async () => {
  const { Wal } = await import("./wal.ts");
  const { wal } = await Wal.open(walDir(), { log });
  wal.append([{ t: "entry", index: 1, term: 1, type: "normal", data: new Uint8Array(1) }]);
  wal.append([{ t: "conf-v9", index: 2 }]);
  await wal.sync();
  await wal.close();
  await assert.rejects(DiskStorage.open(dataDir, { log }), {
    name: "ReplayError",
    code: "bad_record",
  });
});

test("a deleted log beside snapshot files is refused, not silently restarted empty", async () => {
  const s = await DiskStorage.open(dataDir, { log });
  await s.save({ entries: ents(1, 5, 1), hardState: { term: 3, vote: 2, commit: 5 } });
  await s.createSnapshot(5, conf, new Uint8Array([5]));
  await s.close();
  rmSync(walDir(), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    await assert.rejects(DiskStorage.open(dataDir, { log }), {
      name: "ReplayError",
      code: "wal_missing",
    });
  }
});

test("each save is one WAL batch (one fsync), and mustSync=false rides on the next", async () => {
  let s = await DiskStorage.open(dataDir, { log });
  await s.save({ entries: ents(1, 3, 1), hardState: { term: 1, vote: 1, commit: 0 } });
  await s.save({ hardState: { term: 1, vote: 1, commit: 3 }, mustSync: false });
  const snap = { metadata: { index: 10, term: 2, confState: conf }, data: new Uint8Array([1]) };
  await s.save({
    snapshot: snap,
    entries: ents(11, 12, 2),
    hardState: { term: 2, vote: 0, commit: 10 },
  });
  await s.save({ entries: ents(13, 13, 2) });
  const seg = join(walDir(), readdirSync(walDir())[0]!);
  const batches = new Set(scanSegment(readFileSync(seg)).frames.map((f) => f.batch));
  assert.deepEqual([...batches], [0, 1, 2], "3 synced saves, 3 batches; the unsynced one joined");
  s = await reopen(s);
  assert.equal(s.lastIndex(), 13);
  assert.deepEqual(s.initialState().hardState, { term: 2, vote: 0, commit: 10 });
  await s.close();
});
