import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { TaskState as S } from "../../core/model/task-state.ts";
import { LABEL_NODE_ID, LABEL_SERVICE_ID, LABEL_TASK_ID } from "../executor/executor.ts";
import { MemoryExecutor } from "../executor/memory.ts";
import { type AgentState, loadState, saveState } from "../state/state.ts";
import { Clock, forwardOnly, RecordingSink, task } from "./testing.ts";
import { Worker } from "./worker.ts";

const IMAGE = "busybox:latest";

interface SetupOptions {
  initial?: AgentState;
  trusted?: boolean;
  ex?: MemoryExecutor;
  clock?: Clock;
}

function setup(o: SetupOptions = {}) {
  const clock = o.clock ?? new Clock();
  const ex = o.ex ?? new MemoryExecutor(clock.now);
  ex.images.add(IMAGE);
  const sink = new RecordingSink();
  const saved: AgentState[] = [];
  const worker = new Worker({
    executor: ex,
    nodeId: "node1",
    sink,
    now: clock.now,
    offlineAfterMs: 10_000,
    initial: o.initial,
    initialTrusted: o.trusted,
    persist: (s) => saved.push(structuredClone(s)),
  });
  worker.setOnline(true);
  return { ex, sink, clock, worker, saved };
}

const sleeper = { image: IMAGE, args: ["sleep", "300"] };

test("a task goes ASSIGNED -> RUNNING in one pass, labelled, states forward only", async () => {
  const { ex, sink, worker, saved } = setup();
  worker.setAssignment({ version: 1, tasks: [task("t1", sleeper)] });
  await worker.reconcile();
  assert.deepEqual(sink.states("t1"), [S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]);
  const [c] = await ex.list({ [LABEL_TASK_ID]: "t1" });
  assert.equal(c?.state, "running");
  assert.equal(c?.labels[LABEL_SERVICE_ID], "svc1");
  assert.equal(c?.labels[LABEL_NODE_ID], "node1");
  assert.equal(sink.last("t1")?.containerId, c?.id);
  assert.equal(saved.at(-1)?.statuses.t1?.state, S.RUNNING);
  await worker.reconcile();
  assert.equal(sink.updates.length, 5, "a settled task reports nothing more");
});

test("a missing image is pulled, progress in the PREPARING message", async () => {
  const { ex, sink, worker } = setup();
  ex.registry.add("app:2");
  worker.setAssignment({ version: 1, tasks: [task("t1", { image: "app:2" })] });
  await worker.reconcile();
  assert.equal(ex.calls.pull, 1);
  const pulling = sink.updates.filter((u) => u.message.startsWith("pulling image app:2"));
  assert.ok(pulling.length >= 1);
  assert.equal(sink.last("t1")?.state, S.RUNNING);
});

test("an image no registry has: REJECTED with the error; other tasks unaffected", async () => {
  const { sink, worker } = setup();
  worker.setAssignment({
    version: 1,
    tasks: [task("bad", { image: "nowhere:1" }), task("bad2", { image: 7 }), task("ok", sleeper)],
  });
  await worker.reconcile();
  assert.equal(sink.last("bad")?.state, S.REJECTED);
  assert.match(sink.last("bad")?.err ?? "", /nowhere:1/);
  assert.equal(sink.last("bad2")?.state, S.REJECTED);
  assert.match(sink.last("bad2")?.err ?? "", /image missing/);
  assert.equal(sink.last("ok")?.state, S.RUNNING);
});

test("a healthcheck gates RUNNING; unhealthy fails the task (online)", async () => {
  const { ex, sink, worker } = setup();
  ex.autoHealth = false;
  const hc = { test: ["CMD-SHELL", "true"], intervalMs: 100 };
  worker.setAssignment({ version: 1, tasks: [task("t1", { ...sleeper, healthcheck: hc })] });
  await worker.reconcile();
  assert.equal(sink.last("t1")?.state, S.STARTING);
  const id = sink.last("t1")!.containerId!;
  ex.setHealth(id, "healthy");
  await worker.reconcile();
  assert.equal(sink.last("t1")?.state, S.RUNNING);
  ex.setHealth(id, "unhealthy");
  await worker.reconcile();
  assert.equal(sink.last("t1")?.state, S.FAILED);
  assert.equal(sink.last("t1")?.message, "unhealthy container");
  assert.equal((await ex.inspect(id))?.state, "exited");
});

test("online, an exit is reported (FAILED with code) and not restarted", async () => {
  const { ex, sink, worker } = setup();
  worker.setAssignment({ version: 1, tasks: [task("t1", sleeper)] });
  await worker.reconcile();
  ex.exit(sink.last("t1")!.containerId!, 2);
  await worker.reconcile();
  assert.equal(sink.last("t1")?.state, S.FAILED);
  assert.equal(sink.last("t1")?.exitCode, 2);
  assert.equal(sink.last("t1")?.message, "task: non-zero exit (2)");
  assert.equal(ex.calls.start, 1);
});

test("desired SHUTDOWN stops the task; leaving the assignment removes the container", async () => {
  const { ex, sink, worker } = setup();
  const t = task("t1", sleeper);
  worker.setAssignment({ version: 1, tasks: [t] });
  await worker.reconcile();
  worker.setAssignment({ version: 2, tasks: [{ ...t, desiredState: S.SHUTDOWN }] });
  await worker.reconcile();
  assert.equal(sink.last("t1")?.state, S.SHUTDOWN);
  assert.equal((await ex.list({ [LABEL_TASK_ID]: "t1" }))[0]?.state, "exited");
  assert.equal(worker.setAssignment({ version: 1, tasks: [] }), false, "older version ignored");
  worker.setAssignment({ version: 3, tasks: [] });
  await worker.reconcile();
  assert.deepEqual(await ex.list({ [LABEL_TASK_ID]: "t1" }), []);
  assert.ok(forwardOnly(sink));
});

test("after an agent restart, running containers are adopted, not recreated", async () => {
  const first = setup();
  first.worker.setAssignment({ version: 4, tasks: [task("t1", sleeper), task("t2", sleeper)] });
  await first.worker.reconcile();
  const state = first.saved.at(-1)!;
  const second = setup({ ex: first.ex, initial: state, trusted: true });
  await second.worker.reconcile();
  assert.equal(first.ex.calls.create, 2);
  assert.equal(second.sink.updates.length, 0, "nothing changed, nothing reported");
  assert.deepEqual(
    second.worker.statuses().map((s) => s.state),
    [S.RUNNING, S.RUNNING],
  );
  assert.equal(second.worker.assignVersion, 4);
});

test("a lost state file: unknown containers are kept, then adopted by task id", async () => {
  const first = setup();
  first.worker.setAssignment({ version: 4, tasks: [task("t1", sleeper)] });
  await first.worker.reconcile();
  const second = setup({ ex: first.ex });
  await second.worker.reconcile();
  assert.equal((await first.ex.list({}))[0]?.state, "running", "not removed as an orphan");
  second.worker.setAssignment({ version: 5, tasks: [task("t1", sleeper)] });
  await second.worker.reconcile();
  assert.equal(second.sink.last("t1")?.state, S.RUNNING);
  assert.equal(second.sink.last("t1")?.message, "adopted running container");
  assert.equal(first.ex.calls.create, 1);
});

test("offline autonomy: exits wait while disconnected briefly, restart once offline", async () => {
  const { ex, sink, worker, clock } = setup();
  const policy = { condition: "on-failure", delayMs: 1000, maxAttempts: 2, windowMs: 0 };
  worker.setAssignment({ version: 1, tasks: [task("t1", sleeper, { restartPolicy: policy })] });
  await worker.reconcile();
  const id = sink.last("t1")!.containerId!;
  worker.setOnline(false);
  ex.exit(id, 1);
  clock.ms += 5000;
  await worker.reconcile();
  assert.equal(worker.connectivity(), "unknown");
  assert.equal(sink.last("t1")?.state, S.RUNNING, "no verdict while briefly disconnected");
  clock.ms += 6000;
  assert.equal(worker.connectivity(), "offline");
  await worker.reconcile();
  assert.equal((await ex.inspect(id))?.state, "running", "restarted in place");
  assert.equal(sink.last("t1")?.state, S.RUNNING);
  assert.match(sink.last("t1")?.message ?? "", /restarted by the agent while offline/);
  ex.exit(id, 1);
  await worker.reconcile();
  assert.equal((await ex.inspect(id))?.state, "exited", "restart delay not yet over");
  clock.ms += 1000;
  await worker.reconcile();
  assert.equal((await ex.inspect(id))?.state, "running");
  ex.exit(id, 1);
  clock.ms += 1000;
  await worker.reconcile();
  assert.equal(sink.last("t1")?.state, S.FAILED, "max attempts used up");
  assert.match(sink.last("t1")?.message ?? "", /not restarted offline/);
  assert.equal(ex.calls.create, 1, "the task keeps its container");
});

test("after a reboot with no manager, persisted tasks run again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-worker-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const first = setup();
  first.worker.setAssignment({ version: 7, tasks: [task("t1", sleeper)] });
  await first.worker.reconcile();
  saveState(dir, first.saved.at(-1)!);
  const id = first.sink.last("t1")!.containerId!;
  first.ex.exit(id, 255);
  const loaded = loadState(dir);
  const rebooted = setup({
    ex: first.ex,
    clock: first.clock,
    initial: loaded.state,
    trusted: loaded.found,
  });
  rebooted.worker.setOnline(false);
  await rebooted.worker.reconcile();
  assert.equal((await first.ex.inspect(id))?.state, "exited", "waits to learn if a manager is up");
  rebooted.clock.ms += 20_000;
  await rebooted.worker.reconcile();
  assert.equal((await first.ex.inspect(id))?.state, "running");
  rebooted.worker.setOnline(true);
  rebooted.worker.setAssignment({ version: 8, tasks: [] });
  await rebooted.worker.reconcile();
  assert.deepEqual(await first.ex.list({}), [], "back online, the new assignment wins");
});

test("stops use the task's grace period, also once it left the assignment", async () => {
  const { ex, worker } = setup();
  const a = task("a", { ...sleeper, stopGracePeriodMs: 1234 });
  const b = task("b", { ...sleeper, stopGracePeriodMs: 4321 }, { slot: 2 });
  worker.setAssignment({ version: 1, tasks: [a, b] });
  await worker.reconcile();
  worker.setAssignment({ version: 2, tasks: [{ ...a, desiredState: S.SHUTDOWN }] });
  await worker.reconcile();
  assert.deepEqual([...ex.stopGraces].sort(), [1234, 4321]);
});
