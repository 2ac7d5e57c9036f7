// Against a real mosquitto: 300 simulated agents (one light MQTT.js client each, in this
// process) register, heartbeat, receive assignments and report status to a dispatcher on an
// MqttBus, while a real `mosquitto_sub` process reads the JSON event and state topics. Every
// wait is bounded in time; every loop in count.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { test } from "node:test";
import { makeCluster, makeService, makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { topics } from "../../core/topics.ts";
import { need, startMosquitto } from "../../test/support/real.ts";
import { Dispatcher } from "./dispatcher.ts";
import { silentLogger } from "./log.ts";
import { MqttBus } from "./mqtt-bus.ts";
import { SimAgent } from "./sim-agent.ts";

const AGENTS = 300;
const TASKS_PER_NODE = 2;
const PERIOD_MS = 2000;
const CLUSTER = "fleet-test";

let detail = () => "";

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; ${detail()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A real mosquitto_sub printing `topic payload` lines, collected as they arrive. */
function subscriber(port: number, filters: string[]): { proc: ChildProcess; lines: string[] } {
  const args = ["-h", "127.0.0.1", "-p", String(port), "-v", "-q", "1"];
  for (const f of filters) args.push("-t", f);
  const proc = spawn("mosquitto_sub", args, { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  let rest = "";
  proc.stdout!.on("data", (d) => {
    const parts = (rest + String(d)).split("\n");
    rest = parts.pop()!;
    lines.push(...parts);
  });
  return { proc, lines };
}

function parsed(lines: string[], topic: string): Record<string, unknown>[] {
  return lines
    .filter((l) => l.startsWith(`${topic} {`))
    .map((l) => JSON.parse(l.slice(topic.length + 1)) as Record<string, unknown>);
}

async function startAgents(url: string): Promise<SimAgent[]> {
  const agents: SimAgent[] = [];
  for (let i = 0; i < AGENTS; i += 50) {
    const batch = Array.from({ length: Math.min(50, AGENTS - i) }, (_, k) =>
      SimAgent.start({ url, clusterId: CLUSTER, nodeId: `node-${i + k}` }),
    );
    agents.push(...(await Promise.all(batch)));
  }
  for (const [i, a] of agents.entries()) a.startHeartbeats(PERIOD_MS, (i * 7) % PERIOD_MS);
  return agents;
}

/** Acts as the scheduler: TASKS_PER_NODE tasks of one service on every node, ASSIGNED. */
async function placeTasks(writer: LocalWriter): Promise<void> {
  await writer.update((tx) => tx.create("services", makeService("web", { name: "web" })));
  await writer.batch((b) => {
    for (let i = 0; i < AGENTS * TASKS_PER_NODE; i++) {
      const task = makeTask(`web.${i + 1}`, "web", {
        slot: i + 1,
        nodeId: `node-${i % AGENTS}`,
        status: { state: TaskState.ASSIGNED, timestamp: 0, message: "assigned" },
      });
      b.update((tx) => tx.create("tasks", task));
    }
  });
}

test("300 agents over mosquitto: register, heartbeat, assignments, status, DOWN, operator topics", {
  timeout: 180_000,
}, async (t) => {
  if (!need(t, "mosquitto")) return;
  // The broker settings the dispatcher needs (docs/dispatcher.md): room for a burst queued to
  // its subscription, and no small in-flight window on it.
  const mosq = await startMosquitto("max_queued_messages 100000\nmax_inflight_messages 0\n");
  const url = `mqtt://127.0.0.1:${mosq.port}`;
  const tp = topics(CLUSTER);
  const sub = subscriber(mosq.port, [tp.eventsFilter, tp.stateFilter]);
  const store = new Store();
  const spec = { ...makeCluster().spec, heartbeatPeriodMs: PERIOD_MS };
  store.update((tx) => tx.create("clusters", makeCluster(CLUSTER, { spec })));
  const writer = new LocalWriter(store);
  const bus = await MqttBus.connect({ url });
  const dispatcher = new Dispatcher({ writer, bus, clusterId: CLUSTER, logger: silentLogger });
  let agents: SimAgent[] = [];
  detail = () => JSON.stringify(dispatcher.stats());
  try {
    // mosquitto_sub is connected once it sees what we publish.
    const probed = () => sub.lines.some((l) => l.includes("probe"));
    for (let i = 0; i < 200 && !probed(); i++) {
      await bus.publish(tp.event("cluster"), '{"probe":true}', { qos: 0, retain: false });
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(probed(), "mosquitto_sub connected");
    await dispatcher.start();
    agents = await startAgents(url);
    const nodes = () => store.view((tx) => tx.find("nodes"));
    await until(
      "every node registered and ready",
      () => nodes().filter((n) => n.status.state === "ready").length === AGENTS,
      30_000,
    );
    // Each simulated agent says where its broker connection comes from: loopback here.
    assert.deepEqual([...new Set(nodes().map((n) => n.status.addr))], ["127.0.0.1"]);

    await placeTasks(writer);
    const running = () =>
      store.view((tx) => tx.count("tasks", { index: "state", key: String(TaskState.RUNNING) }));
    await until(
      "every task RUNNING in the store",
      () => running() === AGENTS * TASKS_PER_NODE,
      30_000,
    );
    for (const a of agents) {
      assert.equal(a.tasks.length, TASKS_PER_NODE, `${a.nodeId} assignment`);
      assert.equal(a.badAssignments, 0, `${a.nodeId} saw no version go backwards`);
    }
    const st = dispatcher.stats();
    assert.ok(
      st.storeWrites < (AGENTS * TASKS_PER_NODE) / 10,
      `${st.tasksWritten} statuses in ${st.storeWrites} store writes`,
    );

    // Three agents fall silent: they go DOWN; every agent still talking ends up ready. (On a
    // starved machine a live node can miss its window and recover at its next heartbeat: the
    // test allows that, and the diagnostic line reports it.)
    const silent = agents.slice(0, 3);
    const silentIds = silent.map((a) => a.nodeId).sort();
    for (const a of silent) await a.stop();
    const stateOf = (id: string) => store.view((tx) => tx.get("nodes", id))!.status.state;
    await until(
      "the silent nodes DOWN",
      () => silentIds.every((id) => stateOf(id) === "down"),
      PERIOD_MS * 6 + 10_000,
    );
    const downIds = () =>
      nodes()
        .filter((n) => n.status.state === "down")
        .map((n) => n.id)
        .sort();
    await until("only the silent nodes down", () => downIds().join() === silentIds.join(), 10_000);

    // What mosquitto_sub, a stock MQTT client, read from the operator topics.
    const downEvents = () =>
      parsed(sub.lines, tp.event("node")).filter(
        (e) => e.action === "down" && silentIds.includes(e.nodeId as string),
      );
    await until("down events at mosquitto_sub", () => downEvents().length === 3, 10_000);
    const silentState = `${tp.nodeState(silent[0]!.nodeId)} `;
    await until(
      "the DOWN state mirror",
      () => sub.lines.some((l) => l.startsWith(silentState) && l.includes('"state":"down"')),
      10_000,
    );
    assert.equal(parsed(sub.lines, tp.event("leader")).length, 1);
    assert.equal(parsed(sub.lines, tp.event("service"))[0]!.action, "created");
    const runningEvents = parsed(sub.lines, tp.event("task")).filter((e) => e.state === "RUNNING");
    await until(
      "task events",
      () =>
        parsed(sub.lines, tp.event("task")).filter((e) => e.state === "RUNNING").length ===
        AGENTS * TASKS_PER_NODE,
      10_000,
    );
    assert.ok(runningEvents.length <= AGENTS * TASKS_PER_NODE);
    await until(
      "the service mirror counting every running task",
      () => {
        const svc = parsed(sub.lines, tp.serviceState("web")).at(-1);
        return (
          (svc?.tasks as { running?: number } | undefined)?.running === AGENTS * TASKS_PER_NODE
        );
      },
      10_000,
    );
    assert.equal(dispatcher.stats().dropped.malformed, 0);
    const final = dispatcher.stats();
    t.diagnostic(`false DOWN (recovered): ${final.nodesDown - silent.length}`);
    t.diagnostic(JSON.stringify({ ...final, dropped: undefined }));
  } finally {
    await Promise.allSettled(agents.map((a) => a.stop()));
    await dispatcher.stop();
    await bus.close();
    sub.proc.kill("SIGTERM");
    await mosq.stop();
  }
});
