import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { encodeCbor } from "../../core/codec/index.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { type AgentState, loadState, STATE_FILE, StateError, saveState } from "./state.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "fleet-agent-state-"));
  dirs.push(d);
  return d;
}

const sample: AgentState = {
  assignment: {
    version: 42,
    tasks: [
      {
        id: "t1",
        serviceId: "s1",
        serviceName: "web",
        slot: 1,
        specVersion: 3,
        desiredState: TaskState.RUNNING,
        spec: { containerSpec: { image: "busybox" } },
      },
    ],
  },
  statuses: {
    t1: {
      taskId: "t1",
      state: TaskState.RUNNING,
      timestamp: 5,
      message: "started",
      containerId: "c1",
    },
  },
};

test("a saved state loads back unchanged; no temporary file is left", () => {
  const d = dir();
  saveState(d, sample);
  const loaded = loadState(d);
  assert.equal(loaded.found, true);
  assert.equal(loaded.error, undefined);
  assert.deepEqual(loaded.state, sample);
  assert.deepEqual(readdirSync(d), [STATE_FILE]);
});

test("no file: an empty state, not an error", () => {
  const loaded = loadState(dir());
  assert.equal(loaded.found, false);
  assert.equal(loaded.error, undefined);
  assert.deepEqual(loaded.state.assignment, { version: 0, tasks: [] });
});

for (const [name, bytes] of [
  ["garbage bytes", Buffer.from("not cbor at all \xff\xfe")],
  ["truncated file", encodeCbor({ v: 1, ...sample }).subarray(0, 20)],
  ["wrong version", encodeCbor({ v: 99, ...sample })],
  ["bad assignment", encodeCbor({ v: 1, assignment: { version: "x", tasks: [] }, statuses: {} })],
  [
    "bad status",
    encodeCbor({ v: 1, assignment: sample.assignment, statuses: { t1: { taskId: "t2" } } }),
  ],
] as const) {
  test(`corrupt state (${name}): typed error, empty state, file moved aside`, () => {
    const d = dir();
    writeFileSync(join(d, STATE_FILE), bytes);
    const loaded = loadState(d);
    assert.ok(loaded.error instanceof StateError);
    assert.equal(loaded.error.code, "corrupt");
    assert.match(loaded.error.message, /moved to .*corrupt/);
    assert.equal(loaded.found, false);
    assert.equal(loaded.state.assignment.version, 0);
    assert.ok(existsSync(join(d, `${STATE_FILE}.corrupt`)));
    assert.equal(existsSync(join(d, STATE_FILE)), false);
  });
}

test("a save that cannot write is a StateError (io)", () => {
  const d = dir();
  writeFileSync(join(d, "file"), "x");
  assert.throws(
    () => saveState(join(d, "file", "sub"), sample),
    (e: unknown) => {
      return e instanceof StateError && e.code === "io" && e.retryable;
    },
  );
});
