// The worker against the real Docker engine with the busybox test image.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, test } from "node:test";
import { TaskState as S } from "../../core/model/task-state.ts";
import { ensureTestImage, need, removeTestContainers } from "../../test/support/real.ts";
import { DockerExecutor } from "../executor/docker.ts";
import { LABEL_TASK_ID } from "../executor/executor.ts";
import type { AgentState } from "../state/state.ts";
import { forwardOnly, RecordingSink, task } from "./testing.ts";
import { Worker } from "./worker.ts";

const VALUE = `worker-docker-${process.pid}`;
after(() => removeTestContainers(VALUE));

let last: RecordingSink | undefined;
async function until(what: string, worker: Worker, ok: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 1000; i++) {
    await worker.reconcile();
    if (await ok()) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last?.updates.slice(-6))}`);
}

function make(ex: DockerExecutor, initial?: AgentState) {
  const sink = new RecordingSink();
  last = sink;
  const saved: AgentState[] = [];
  const worker = new Worker({
    executor: ex,
    nodeId: `dnode-${process.pid}`,
    sink,
    initial,
    initialTrusted: initial !== undefined,
    persist: (s) => saved.push(structuredClone(s)),
  });
  worker.setOnline(true);
  return { worker, sink, saved };
}

test("docker: run, health-gate, adopt, fail on exit, shut down, remove", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const image = ensureTestImage();
  const ex = new DockerExecutor();
  const labels = { "fleet.test": VALUE };
  const p = `${process.pid}x${Date.now().toString(36)}`;
  const plain = task(`a${p}`, { image, args: ["sleep", "300"], labels, stopGracePeriodMs: 500 });
  const hc = { test: ["CMD-SHELL", "test -e /bin/sh"], intervalMs: 200, retries: 2 };
  const checked = task(
    `b${p}`,
    { image, args: ["sleep", "300"], labels, healthcheck: hc },
    { slot: 2 },
  );
  const one = make(ex);
  one.worker.setAssignment({ version: 1, tasks: [plain, checked] });
  const isRunning = (s: RecordingSink, id: string) => s.last(id)?.state === S.RUNNING;
  await until(
    "both RUNNING",
    one.worker,
    () => isRunning(one.sink, plain.id) && isRunning(one.sink, checked.id),
  );
  const hcStates = one.sink.states(checked.id);
  assert.ok(hcStates.includes(S.STARTING));
  const inspected = await ex.inspect(one.sink.last(checked.id)!.containerId!);
  assert.equal(inspected?.health, "healthy", "RUNNING only once healthy");

  // A new worker (agent restart) adopts both containers without recreating them.
  const two = make(ex, one.saved.at(-1));
  await two.worker.reconcile();
  assert.equal(two.sink.updates.length, 0);
  const found = await ex.list({ "fleet.test": VALUE });
  assert.equal(found.length, 2);

  // Killed outside fleet: reported FAILED with the exit code (the manager decides what next).
  const killed = one.sink.last(plain.id)!.containerId!;
  spawnSync("docker", ["kill", killed], { stdio: "ignore" });
  await until("FAILED", two.worker, () => two.sink.last(plain.id)?.state === S.FAILED);
  assert.equal(two.sink.last(plain.id)?.exitCode, 137);

  // Desired SHUTDOWN stops it; an empty assignment removes both containers.
  two.worker.setAssignment({
    version: 2,
    tasks: [plain, { ...checked, desiredState: S.SHUTDOWN }],
  });
  await until("SHUTDOWN", two.worker, () => two.sink.last(checked.id)?.state === S.SHUTDOWN);
  two.worker.setAssignment({ version: 3, tasks: [] });
  await until(
    "removed",
    two.worker,
    async () =>
      (await ex.list({ [LABEL_TASK_ID]: checked.id })).length === 0 &&
      (await ex.list({ [LABEL_TASK_ID]: plain.id })).length === 0,
  );
  assert.ok(forwardOnly(one.sink) && forwardOnly(two.sink));
});

test("docker: the engine's events wake the worker at once (its poll is a minute away)", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const image = ensureTestImage();
  const ex = new DockerExecutor();
  const sink = new RecordingSink();
  const id = `e${process.pid}x${Date.now().toString(36)}`;
  const worker = new Worker({
    executor: ex,
    nodeId: `enode-${process.pid}`,
    sink,
    pollIntervalMs: 60_000,
  });
  worker.setOnline(true);
  worker.start();
  try {
    const labels = { "fleet.test": VALUE };
    worker.setAssignment({
      version: 1,
      tasks: [task(id, { image, args: ["sleep", "300"], labels, stopGracePeriodMs: 0 })],
    });
    const wait = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 30_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await wait("RUNNING", () => sink.last(id)?.state === S.RUNNING);
    const containerId = sink.last(id)!.containerId!;
    spawnSync("docker", ["kill", containerId], { stdio: "ignore" });
    // No pass is due for a minute: only the die event can make the worker look now.
    await wait("FAILED after docker kill", () => sink.last(id)?.state === S.FAILED);
    assert.equal(sink.last(id)?.exitCode, 137);
  } finally {
    await worker.stop();
  }
});
