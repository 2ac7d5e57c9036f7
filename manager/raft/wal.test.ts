import assert from "node:assert/strict";
import {
  appendFileSync,
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
import fc from "fast-check";
import { limits } from "../../core/limits.ts";
import { segmentFileName, Wal, WalError } from "./wal.ts";

let dir = "";
const logs: string[] = [];
const log = (line: string) => logs.push(line);
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fleet-wal-"));
  logs.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const seg = (n: number) => join(dir, segmentFileName(n));

async function writeBatches(batches: unknown[][], segmentBytesMax?: number): Promise<void> {
  const { wal } = await Wal.open(dir, { segmentBytesMax, log });
  for (const b of batches) {
    wal.append(b);
    await wal.sync();
  }
  await wal.close();
}

async function reopen(): Promise<{ values: unknown[]; torn: unknown }> {
  const { wal, records, torn } = await Wal.open(dir, { log });
  await wal.close();
  return { values: records.map((r) => r.value), torn };
}

const rec = (i: number) => ({ t: "entry", index: i, data: `payload-${i}` });

test("records survive a reopen, in order, across batches", async () => {
  await writeBatches([[rec(1), rec(2)], [rec(3)], [{ t: "hardState", term: 2, vote: "a" }]]);
  const { values, torn } = await reopen();
  assert.deepEqual(values, [rec(1), rec(2), rec(3), { t: "hardState", term: 2, vote: "a" }]);
  assert.equal(torn, undefined);
});

test("a reopened log appends after the recovered records", async () => {
  await writeBatches([[rec(1)]]);
  await writeBatches([[rec(2)], [rec(3)]]);
  assert.deepEqual((await reopen()).values, [rec(1), rec(2), rec(3)]);
});

test("segments rotate at the size bound, start with the preamble, and are released", async () => {
  const preamble = () => [{ t: "hardState", term: 7 }];
  const { wal } = await Wal.open(dir, { segmentBytesMax: 200, preamble, log });
  for (let i = 1; i <= 12; i++) {
    wal.append([rec(i)]);
    await wal.sync();
  }
  assert.ok(wal.segments.length > 3, `rotated into ${wal.segments.length} segments`);
  for (const s of wal.segments) assert.ok(statSync(seg(s)).size <= 200 + 64);
  const last = wal.segment;
  const count = wal.segments.length;
  const removed = await wal.releaseBefore(last + 100);
  assert.equal(removed.length, count - 1);
  assert.equal(readdirSync(dir).length, 1);
  assert.deepEqual(wal.segments, [last], "the current segment is never released");
  await wal.close();
  const { values } = await reopen();
  assert.deepEqual(values[0], { t: "hardState", term: 7 }, "new segment starts with preamble");
  assert.deepEqual(values.at(-1), rec(12));
});

test("a torn last frame is truncated, reported with byte counts, and the log goes on", async () => {
  await writeBatches([[rec(1), rec(2)], [rec(3)]]);
  const size = statSync(seg(0)).size;
  truncateSync(seg(0), size - 5);
  const { values, torn } = await reopen();
  assert.deepEqual(values, [rec(1), rec(2)]);
  assert.ok(torn && typeof torn === "object");
  const t = torn as { droppedBytes: number; offset: number; reason: string };
  assert.equal(t.offset + t.droppedBytes, size - 5);
  assert.match(t.reason, /partial payload/);
  assert.match(logs.join("\n"), /truncated torn tail .* dropped \d+ bytes/);
  await writeBatches([[rec(4)]]);
  const again = await reopen();
  assert.deepEqual(again.values, [rec(1), rec(2), rec(4)]);
  assert.equal(again.torn, undefined);
});

test("a flipped byte in the last record is truncated, never returned", async () => {
  await writeBatches([[rec(1)], [rec(2)]]);
  const bytes = readFileSync(seg(0));
  bytes[bytes.length - 3]! ^= 0x40;
  writeFileSync(seg(0), bytes);
  const { values, torn } = await reopen();
  assert.deepEqual(values, [rec(1)]);
  assert.match((torn as { reason: string }).reason, /payload checksum mismatch/);
});

test("a zero-filled tail (preallocation) is truncated and named", async () => {
  await writeBatches([[rec(1)], [rec(2)]]);
  appendFileSync(seg(0), new Uint8Array(4096));
  const { values, torn } = await reopen();
  assert.deepEqual(values, [rec(1), rec(2)]);
  assert.equal((torn as { droppedBytes: number }).droppedBytes, 4096);
  assert.match((torn as { reason: string }).reason, /zero-filled/);
});

test("corruption inside a completed segment is a hard, typed error", async () => {
  await writeBatches(
    Array.from({ length: 10 }, (_, i) => [rec(i)]),
    200,
  );
  const bytes = readFileSync(seg(0));
  bytes[20]! ^= 0xff;
  writeFileSync(seg(0), bytes);
  await assert.rejects(Wal.open(dir, { log }), (err: unknown) => {
    assert.ok(err instanceof WalError);
    assert.equal(err.code, "corrupt_segment");
    assert.match(err.message, /offset 0 .*rebuild/);
    return true;
  });
});

test("a damaged record followed by a later durable batch is a hard error, not a tail", async () => {
  await writeBatches([[rec(1)], [rec(2)], [rec(3)]]);
  const bytes = readFileSync(seg(0));
  bytes[30]! ^= 0x01; // inside the first record's payload
  writeFileSync(seg(0), bytes);
  await assert.rejects(Wal.open(dir, { log }), { name: "WalError", code: "corrupt_log" });
});

test("a missing segment in the middle is a hard error", async () => {
  await writeBatches(
    Array.from({ length: 12 }, (_, i) => [rec(i)]),
    200,
  );
  rmSync(seg(1));
  await assert.rejects(Wal.open(dir, { log }), { name: "WalError", code: "missing_segment" });
});

test("an oversized record is refused before anything is written", async () => {
  const { wal } = await Wal.open(dir, { log });
  const big = { t: "entry", data: new Uint8Array(limits.walRecordBytesMax + 1) };
  assert.throws(() => wal.append([rec(1), big]), { name: "CodecError", code: "too_large" });
  await wal.sync();
  await wal.close();
  assert.deepEqual((await reopen()).values, []);
});

test("a cut anywhere in the last segment keeps exactly the whole frames before it", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 4 }), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (batches, where) => {
        rmSync(dir, { recursive: true, force: true });
        const ends: number[] = [];
        const { wal } = await Wal.open(dir, { log });
        for (const b of batches) {
          for (const s of b) {
            wal.append([s]);
            await wal.sync();
            ends.push(statSync(seg(0)).size);
          }
        }
        await wal.close();
        const cut = Math.floor(ends.at(-1)! * where);
        truncateSync(seg(0), cut);
        const { values } = await reopen();
        const kept = ends.filter((e) => e <= cut).length;
        assert.deepEqual(values, batches.flat().slice(0, kept));
        assert.equal(readdirSync(dir).length, 1);
      },
    ),
    { numRuns: 40 },
  );
});

test("a damaged header with only its own batch after it is the torn last write", async () => {
  await writeBatches([[rec(1)], [rec(2), rec(3)]]);
  const bytes = readFileSync(seg(0));
  const second = bytes.length / 3; // three frames of equal size
  bytes[second + 2]! ^= 0x10; // rec(2)'s length field: its header checksum fails
  writeFileSync(seg(0), bytes);
  const { values, torn } = await reopen();
  assert.deepEqual(values, [rec(1)], "rec(3) shares the unfinished batch, so it goes too");
  assert.match((torn as { reason: string }).reason, /header checksum mismatch/);
});

test("a damaged header followed by a later batch than its own can be is a hard error", async () => {
  await writeBatches([[rec(1)], [rec(2)], [rec(3)]]);
  const bytes = readFileSync(seg(0));
  bytes[bytes.length / 3 + 2]! ^= 0x10;
  writeFileSync(seg(0), bytes);
  await assert.rejects(Wal.open(dir, { log }), { name: "WalError", code: "corrupt_log" });
});
