// Manager liveness over an external broker: a real mosquitto that outlives the managers, the
// real session and worker (in-memory executor), the leader's real Beacon publisher and a fake
// manager answering hellos. Beacons stop (every manager gone, the broker up): the agent stops
// counting as online and restarts a killed task in place. Beacons resume: online, resync.

import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { TaskState } from "../../core/model/task-state.ts";
import { topics } from "../../core/topics.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { Session } from "../../edge-agent/session/session.ts";
import { FakeManager } from "../../edge-agent/session/testing.ts";
import { task } from "../../edge-agent/worker/testing.ts";
import { Worker } from "../../edge-agent/worker/worker.ts";
import { need, startMosquitto } from "../../test/support/real.ts";
import { Beacon } from "./beacon.ts";
import type { Bus } from "./bus.ts";
import { realClock } from "./clock.ts";

const PERIOD_MS = 100;

/** The leader's beacon publisher on its own broker client. */
async function beaconOn(url: string) {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  const bus = {
    publish: (topic: string, payload: Uint8Array | string, o: { qos: 0 | 1; retain: boolean }) =>
      client.publishAsync(topic, Buffer.from(payload), o).then(() => {}),
  } as Bus;
  const beacon = new Beacon({
    bus,
    topic: topics("c1").beacon,
    managerId: "m1",
    clock: realClock,
    periodMs: () => PERIOD_MS,
  });
  beacon.start();
  return {
    async stop() {
      beacon.stop();
      await client.endAsync(true);
    },
  };
}

/** The real session and worker of node `nodeId` on the in-memory executor. */
function agentOn(url: string, nodeId: string, offlineAfterMs: number) {
  const ex = new MemoryExecutor();
  let session: Session | undefined;
  const worker = new Worker({
    executor: ex,
    nodeId,
    sink: { report: (u) => session?.report(u) },
    pollIntervalMs: 50,
    offlineAfterMs,
  });
  session = new Session({
    clusterId: "c1",
    nodeId,
    brokers: [url],
    worker,
    describe: () => ({
      hostname: "h",
      platform: { os: "linux", arch: "amd64" },
      resources: { nanoCPUs: 1e9, memoryBytes: 1 },
      engineLabels: {},
    }),
    agentVersion: "test",
    heartbeatPeriodMs: PERIOD_MS,
    statusIntervalMs: 20,
  });
  return { ex, worker, session };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("beacons stop: offline, a killed task restarts in place; beacons resume: online, resync", async (t) => {
  if (!need(t, "mosquitto")) return;
  const mq = await startMosquitto();
  const url = `mqtt://127.0.0.1:${mq.port}`;
  const { ex, worker, session } = agentOn(url, "n1", 300);
  ex.images.add("busybox:latest");
  const policy = { condition: "any", delayMs: 0, maxAttempts: 0, windowMs: 0 };
  const sleeper = { image: "busybox:latest", args: ["sleep", "300"] };
  let mgr = new FakeManager("c1");
  mgr.tasks = [task("t1", sleeper, { restartPolicy: policy })];
  let beacon = await beaconOn(url);
  try {
    await mgr.serve(url);
    worker.start();
    session.start();
    const running = async () => (await ex.list({}))[0]?.state === "running";
    await until(
      "online with t1 running",
      async () => worker.connectivity() === "online" && (await running()),
    );
    await until("beacons heard", () => (session?.stats.beacons ?? 0) >= 2);
    const [c] = await ex.list({});
    assert.ok(c);

    // Every manager dies; the broker stays up (the session keeps its connection).
    await beacon.stop();
    await mgr.close();
    await until("offline", () => worker.connectivity() === "offline");
    assert.equal(session.stats.managerSilences, 1);
    assert.equal(session.broker, url, "still connected to the broker");
    ex.exit(c.id, 1);
    await until("restarted in place", running);
    const [again] = await ex.list({});
    assert.equal(again?.id, c.id, "the same container, restarted");
    const st = worker.statuses().find((u) => u.taskId === "t1");
    assert.match(st?.message ?? "", /restarted by the agent while offline/);

    // A manager is back: beacons resume, the agent is online and resyncs every task's status.
    mgr = new FakeManager("c1");
    mgr.tasks = [task("t1", sleeper, { restartPolicy: policy })];
    await mgr.serve(url);
    beacon = await beaconOn(url);
    await until("online again", () => worker.connectivity() === "online");
    await mgr.until(
      "resync",
      () =>
        mgr.statuses.some((s) =>
          s.updates.some((u) => u.taskId === "t1" && u.state === TaskState.RUNNING),
        ) || mgr.hellos.some((h) => h.tasks?.some((u) => u.taskId === "t1") ?? false),
    );
    assert.equal(session.broker, url);
  } finally {
    await beacon.stop().catch(() => {});
    await session.stop();
    await worker.stop();
    await mgr.close();
    await mq.stop();
  }
});

test("a beacon before any manager answered the hello: hellos go on, not online until answered", async (t) => {
  if (!need(t, "mosquitto")) return;
  const mq = await startMosquitto();
  const url = `mqtt://127.0.0.1:${mq.port}`;
  const { worker, session } = agentOn(url, "n2", 60_000);
  // A leader whose dispatcher missed the first hello (the agent connected before it was
  // elected): its beacons prove a leader, not that the dispatcher knows this node.
  const hellos: number[] = [];
  const watcher = await mqtt.connectAsync(url, { protocolVersion: 4 });
  await watcher.subscribeAsync(topics("c1").hello("n2"));
  watcher.on("message", () => hellos.push(Date.now()));
  const beacon = await beaconOn(url);
  const mgr = new FakeManager("c1");
  try {
    worker.start();
    session.start();
    await until("beacons heard", () => (session?.stats.beacons ?? 0) >= 3);
    const seen = hellos.length;
    await until("hellos repeated after the beacons", () => hellos.length >= seen + 2);
    assert.notEqual(worker.connectivity(), "online", "a beacon alone does not make it online");
    await mgr.serve(url);
    await until("online once a manager answered", () => worker.connectivity() === "online");
    assert.ok(mgr.hellos.length >= 1, "the manager got a hello");
  } finally {
    await beacon.stop();
    await watcher.endAsync(true);
    await session.stop();
    await worker.stop();
    await mgr.close();
    await mq.stop();
  }
});
