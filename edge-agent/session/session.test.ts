import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { encodeMessage, type TaskStatusUpdate } from "../../core/codec/index.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { topics } from "../../core/topics.ts";
import { freePort, need, startMosquitto } from "../../test/support/real.ts";
import type { Assignment } from "../state/state.ts";
import { task } from "../worker/testing.ts";
import { backoffDelay } from "./backoff.ts";
import { Session, type SessionWorker, statusPayloads } from "./session.ts";
import { FakeManager } from "./testing.ts";

class StubWorker implements SessionWorker {
  assignVersion = 0;
  online: boolean[] = [];
  applied: Assignment[] = [];
  current: TaskStatusUpdate[] = [];
  statuses() {
    return this.current;
  }
  setAssignment(a: Assignment) {
    if (a.version < this.assignVersion) return false;
    this.assignVersion = a.version;
    this.applied.push(a);
    return true;
  }
  setOnline(b: boolean) {
    this.online.push(b);
  }
  runningCount() {
    return this.current.length;
  }
}

const describeNode = () => ({
  hostname: "h",
  platform: { os: "linux", arch: "amd64" },
  resources: { nanoCPUs: 1e9, memoryBytes: 1 },
  engineLabels: { "hw.arch": "amd64" },
});

test("backoff: exponential, jittered, capped at 30 s", () => {
  const b = { baseMs: 250, maxMs: 30_000 };
  assert.equal(
    backoffDelay(0, b, () => 0),
    125,
  );
  assert.equal(
    backoffDelay(0, b, () => 0.999_999),
    250,
  );
  assert.equal(
    backoffDelay(3, b, () => 0),
    1000,
  );
  assert.equal(
    backoffDelay(20, b, () => 0.999_999),
    30_000,
  );
  assert.equal(
    backoffDelay(1000, b, () => 0),
    15_000,
  );
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(5, b, Math.random)));
  assert.ok(spread.size > 10, "agents do not come back in lockstep");
});

test("status batches that do not fit the uplink bound are split", () => {
  const big = (i: number): TaskStatusUpdate => ({
    taskId: `t${i}`,
    state: TaskState.FAILED,
    timestamp: 1,
    message: "m".repeat(1024),
    err: "e".repeat(4096),
  });
  const parts = statusPayloads(Array.from({ length: 200 }, (_, i) => big(i)));
  assert.ok(parts.length > 1);
  assert.ok(parts.every((p) => p.length <= 256 * 1024));
});

test("session: hello, assignment, heartbeats, batched status, failover, resync", async (t) => {
  if (!need(t, "mosquitto")) return;
  const a = await startMosquitto();
  const b = await startMosquitto();
  const mgr = new FakeManager("c1");
  const worker = new StubWorker();
  const session = new Session({
    clusterId: "c1",
    nodeId: "n1",
    brokers: [`mqtt://127.0.0.1:${a.port}`, `mqtt://127.0.0.1:${b.port}`],
    worker,
    describe: describeNode,
    agentVersion: "test",
    heartbeatPeriodMs: 100,
    backoffBaseMs: 50,
    statusIntervalMs: 50,
  });
  try {
    await mgr.serve(`mqtt://127.0.0.1:${a.port}`);
    await mgr.serve(`mqtt://127.0.0.1:${b.port}`);
    mgr.version = 5;
    mgr.tasks = [task("t1", { image: "x" })];
    session.start();
    await mgr.until("hello", () => mgr.hellos.length === 1);
    assert.equal(mgr.hellos[0]!.assignVersion, 0);
    assert.equal(mgr.hellos[0]!.addr, "127.0.0.1", "the local address of the broker connection");
    assert.equal(mgr.hellos[0]!.description.engineLabels["hw.arch"], "amd64");
    await mgr.until("assignment applied", () => worker.assignVersion === 5);
    assert.equal(worker.applied[0]!.tasks[0]!.id, "t1");
    await mgr.until("heartbeats", () => mgr.heartbeats.length >= 3);
    const seqs = mgr.heartbeats.map((h) => h.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
    );

    const up = (state: number) => ({ taskId: "t1", state, timestamp: 1, message: "m" });
    for (const s of [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.RUNNING]) {
      session.report(up(s));
    }
    session.report({ ...up(TaskState.RUNNING), taskId: "t2" });
    await mgr.until("status", () => mgr.statuses.length >= 1);
    assert.equal(mgr.statuses.length, 1, "one batch");
    assert.deepEqual(
      mgr.statuses[0]!.updates.map((u) => [u.taskId, u.state]),
      [
        ["t1", TaskState.RUNNING],
        ["t2", TaskState.RUNNING],
      ],
    );

    // Garbage on the assign topic costs that message only.
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.port}`, { protocolVersion: 4 });
    await pub.publishAsync(topics("c1").assign("n1"), Buffer.from("garbage"), { qos: 1 });
    await pub.endAsync();
    await mgr.until("bad assignment counted", () => session.stats.badAssignments === 1);
    assert.equal(session.broker, `mqtt://127.0.0.1:${a.port}`);

    // Broker A dies: the session moves to B and resyncs (version 5, current task states).
    worker.current = [up(TaskState.RUNNING)];
    await a.stop();
    await mgr.until("hello on B", () => mgr.hellos.length === 2);
    assert.equal(session.broker, `mqtt://127.0.0.1:${b.port}`);
    assert.equal(mgr.hellos[1]!.assignVersion, 5);
    assert.deepEqual(
      mgr.hellos[1]!.tasks?.map((u) => u.state),
      [TaskState.RUNNING],
    );
    await mgr.until("online again", () => worker.online.length >= 3);
    assert.deepEqual(worker.online.slice(0, 3), [true, false, true]);
  } finally {
    await session.stop();
    await mgr.close();
    await a.stop();
    await b.stop();
  }
});

test("session: with no broker up it retries with growing delays, not a storm", async () => {
  // A port nothing listens on refuses connections at once.
  const port = await freePort();
  const worker = new StubWorker();
  const session = new Session({
    clusterId: "c1",
    nodeId: "n2",
    brokers: [`mqtt://127.0.0.1:${port}`],
    worker,
    describe: describeNode,
    agentVersion: "test",
    backoffBaseMs: 40,
    backoffMaxMs: 320,
  });
  const t0 = Date.now();
  session.start();
  for (let i = 0; i < 200 && session.stats.attempts < 5; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const elapsed = Date.now() - t0;
  await session.stop();
  assert.ok(session.stats.attempts >= 5, `attempts ${session.stats.attempts}`);
  // Four waits of at least 20, 40, 80 and 160 ms (half of each exponential step) came first.
  assert.ok(elapsed >= 300, `5 attempts took only ${elapsed} ms`);
  assert.equal(session.stats.connects, 0);
});

test("session: a retained assignment alone (no manager answers) is not online", async (t) => {
  if (!need(t, "mosquitto")) return;
  const mq = await startMosquitto();
  const url = `mqtt://127.0.0.1:${mq.port}`;
  const worker = new StubWorker();
  const session = new Session({
    clusterId: "c1",
    nodeId: "n3",
    brokers: [url],
    worker,
    describe: describeNode,
    agentVersion: "test",
  });
  try {
    const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
    const body = encodeMessage("assign", { version: 9, tasks: [] });
    await pub.publishAsync(topics("c1").assign("n3"), Buffer.from(body), { qos: 1, retain: true });
    session.start();
    for (let i = 0; i < 200 && worker.assignVersion !== 9; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(worker.assignVersion, 9, "the retained assignment is applied");
    assert.deepEqual(worker.online, [], "but no manager answered");
    await pub.publishAsync(topics("c1").assign("n3"), Buffer.from(body), { qos: 1 });
    for (let i = 0; i < 200 && worker.online.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.deepEqual(worker.online, [true], "a live assignment is a manager");
    await pub.endAsync();
  } finally {
    await session.stop();
    await mq.stop();
  }
});
