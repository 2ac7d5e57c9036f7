import assert from "node:assert/strict";
import { test } from "node:test";
import { makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import { jobProgress } from "./jobs.ts";
import { Harness } from "./testing/harness.ts";

const job = (totalCompletions: number, maxConcurrent: number) => ({
  mode: { replicatedJob: { totalCompletions, maxConcurrent } },
});
const completed = (h: Harness, id: string) =>
  h.tasks(id).filter((t) => t.status.state === TaskState.COMPLETE).length;

test("a replicated job runs to its total, never more than maxConcurrent at once", () => {
  const h = new Harness({ seed: 31, nodes: 4, faults: { jobRunSteps: 5 } });
  h.createService("batch", job(10, 3));
  let peak = 0;
  h.runUntil(
    () => {
      const live = h.tasks("batch").filter((t) => t.desiredState <= TaskState.RUNNING);
      const running = live.filter((t) => t.status.state < TaskState.COMPLETE).length;
      peak = Math.max(peak, running);
      return completed(h, "batch") === 10;
    },
    20_000,
    "10 completions",
  );
  assert.equal(peak, 3);
  h.runFor(5_000);
  assert.equal(completed(h, "batch"), 10, "nothing runs after the total");
  assert.equal(h.tasks("batch").length, 10);
  const p = jobProgress(h.tasks("batch"));
  assert.deepEqual([p.completed, p.live, p.failed], [10, 0, 0]);
});

test("failed job tasks are retried in their slot; exhausted slots end the job short", () => {
  const h = new Harness({ seed: 32, faults: { badImages: new Set(["bad"]) } });
  h.createService("batch", {
    ...job(2, 2),
    taskTemplate: makeTemplate({
      containerSpec: { image: "bad" },
      restartPolicy: { condition: "on-failure", delayMs: 100, maxAttempts: 2, windowMs: 0 },
    }),
  });
  h.runFor(10_000);
  const p = jobProgress(h.tasks("batch"));
  assert.deepEqual([p.completed, p.live, p.failed], [0, 0, 2]);
  assert.equal(h.tasks("batch").length, 6, "2 slots x (1 run + 2 retries)");
});

test("a new spec version is a new run: the old one stops", () => {
  const h = new Harness({ seed: 33, faults: { jobRunSteps: 1_000 } });
  h.createService("batch", job(2, 2));
  h.runUntil(() => h.running("batch").length === 2, 5_000);
  const old = h.running("batch").map((t) => t.id);
  h.updateService("batch", (s) => ({ ...s, labels: { run: "2" } }));
  h.runFor(2_000);
  for (const id of old) {
    const t = h.tasks("batch").find((x) => x.id === id)!;
    assert.equal(t.desiredState, TaskState.SHUTDOWN);
  }
  assert.equal(h.running("batch").length, 2);
  assert.ok(h.running("batch").every((t) => t.specVersion === 2));
});
