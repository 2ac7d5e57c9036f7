import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import type { Snapshot } from "../../core/raft/types.ts";
import { SnapshotFileError, SnapshotFiles, snapshotFileName } from "./snapshot-files.ts";

let dir = "";
const logs: string[] = [];
const log = (l: string) => logs.push(l);
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fleet-snap-"));
  logs.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function snap(index: number, term: number, bytes = 16): Snapshot {
  return {
    metadata: { index, term, confState: { voters: [1, 2, 3], learners: [4] } },
    data: new Uint8Array(bytes).fill(index & 0xff),
  };
}

test("a saved snapshot loads back identical", async () => {
  const files = await SnapshotFiles.open(dir, { log });
  await files.save(snap(10, 2, 1000));
  assert.deepEqual(await files.load(10, 2), snap(10, 2, 1000));
  assert.deepEqual(await files.list(), [{ file: snapshotFileName(10, 2), index: 10, term: 2 }]);
});

test("only the newest N are kept, and files above a new save are removed", async () => {
  const files = await SnapshotFiles.open(dir, { keep: 2, log });
  for (const i of [5, 10, 15, 20]) await files.save(snap(i, 1));
  assert.deepEqual(
    (await files.list()).map((f) => f.index),
    [20, 15],
  );
  await files.save(snap(17, 2)); // e.g. 20 was never recorded in the log before a crash
  assert.deepEqual(
    (await files.list()).map((f) => f.index),
    [17, 15],
  );
});

test("leftover tmp files are removed at open and never listed", async () => {
  writeFileSync(join(dir, `${snapshotFileName(9, 1)}.tmp`), "half a snapshot");
  const files = await SnapshotFiles.open(dir, { log });
  assert.deepEqual(readdirSync(dir), []);
  assert.match(logs.join(), /removed 1 unfinished tmp/);
  assert.deepEqual(await files.list(), []);
});

for (const [what, damage] of [
  ["a flipped byte", (b: Buffer) => b.with(b.length - 1, b[b.length - 1]! ^ 1)],
  ["a truncated file", (b: Buffer) => b.subarray(0, b.length - 3)],
  ["bad magic", (b: Buffer) => b.with(0, 0)],
  ["an empty file", () => new Uint8Array(0)],
] as const) {
  test(`load refuses ${what} with a typed error`, async () => {
    const files = await SnapshotFiles.open(dir, { log });
    const name = await files.save(snap(3, 1));
    writeFileSync(join(dir, name), damage(readFileSync(join(dir, name))));
    await assert.rejects(files.load(3, 1), (err: unknown) => {
      assert.ok(err instanceof SnapshotFileError);
      assert.equal(err.code, "corrupt");
      assert.match(err.message, /0000000000000003-0000000000000001\.snap/);
      return true;
    });
  });
}

test("load of an absent snapshot says missing", async () => {
  const files = await SnapshotFiles.open(dir, { log });
  await assert.rejects(files.load(1, 1), { name: "SnapshotFileError", code: "missing" });
});
