// `fleet monitor` (the real binary) on a live manager's embedded broker: an agent on another
// manager's broker says hello and beats (carried by the broker mesh), the leader's dispatcher
// assigns it a task, the agent reports status, the operator topics carry events; every line is
// decoded (CBOR device messages, JSON events). Also the table view with a FILTER and --count.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SimAgent } from "../../manager/dispatcher/sim-agent.ts";
import { CliCluster, until } from "./cli-harness.ts";

const c = new CliCluster();
let watched = 0; // the manager whose broker fleet monitor watches
let agentHome = 0; // another manager: the agent's broker

before(async () => {
  await c.start([]);
  watched = c.follower();
  agentHome = c.managers.running().find((id) => id !== watched)!;
});

after(() => c.close());

const brokerUrl = (id: number) => `mqtt://127.0.0.1:${c.managers.members.get(id)!.brokerPort}`;

interface Line {
  time: string;
  topic: string;
  type: string;
  summary: string;
  payload: Record<string, unknown> | null;
}

test("--json: hello, heartbeat, assign, status and events of a live cluster, decoded", async () => {
  const m = c.spawn(watched, ["monitor", "--json", "--broker", brokerUrl(watched)]);
  let agent: SimAgent | undefined;
  try {
    await until("the monitor subscribed", () =>
      m.out.stderr.includes("fleet monitor: fleet/e2e/#"),
    );
    agent = await SimAgent.start({
      url: brokerUrl(agentHome),
      clusterId: c.managers.clusterId,
      nodeId: "mon-1",
    });
    agent.startHeartbeats(300);
    await until("the agent ready", async () => {
      const r = await c.fleet(watched, ["node", "inspect", "mon-1"]);
      return r.code === 0 && JSON.parse(r.stdout)[0].status.state === "ready";
    });
    const created = await c.fleet(watched, ["service", "create", "--name", "mon", "busybox"]);
    assert.equal(created.code, 0, created.stderr);

    const lines = () =>
      m.out.stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Line);
    const seen = await until("every kind of message", () => {
      const all = lines();
      const kinds = new Set(all.map((l) => l.type));
      const want = ["hello", "heartbeat", "assign", "status", "event.service", "event.task"];
      return want.every((k) => kinds.has(k)) ? all : undefined;
    });
    const one = (type: string) => seen.find((l) => l.type === type)!;
    assert.equal(one("hello").topic, "fleet/e2e/n/mon-1/hello");
    assert.match(one("hello").summary, /^mon-1 \(mon-1, linux\/arm64\) agent sim, assignment v0$/);
    assert.equal(one("heartbeat").topic, "fleet/e2e/n/mon-1/hb");
    assert.match(one("heartbeat").summary, /^seq \d+, load 0\.20, \d+ containers$/);
    const assign = seen.find((l) => l.type === "assign" && /, 1 tasks$/.test(l.summary));
    assert.ok(assign, "the assignment with the task");
    assert.equal(assign.topic, "fleet/e2e/n/mon-1/assign");
    assert.equal(
      (assign.payload as { tasks: { serviceName: string }[] }).tasks[0]!.serviceName,
      "mon",
    );
    assert.match(one("status").summary, /^1 updates: \w{12} running$/);
    const ev = one("event.service");
    assert.match(ev.topic, /^fleet\/e2e\/events\/service$/);
    assert.equal(ev.payload?.kind, "service");
    for (const l of seen) assert.ok(!Number.isNaN(Date.parse(l.time)));
    assert.ok(!seen.some((l) => l.type === "invalid"), "nothing undecodable");
  } finally {
    await agent?.stop();
    m.child.kill("SIGINT");
    assert.equal(await m.exited, 0, m.out.stderr);
  }
});

test("a FILTER and --count: the table view ends by itself; a dead broker is named", async () => {
  const agent = await SimAgent.start({
    url: brokerUrl(agentHome),
    clusterId: c.managers.clusterId,
    nodeId: "mon-2",
  });
  agent.startHeartbeats(200);
  try {
    const r = await c.fleet(
      watched,
      ["monitor", "--broker", brokerUrl(watched), "--count", "2", "n/mon-2/hb"],
      30_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split("\n");
    assert.equal(rows.length, 2);
    for (const row of rows)
      assert.match(
        row,
        /^\d\d:\d\d:\d\d\.\d{3} {2}fleet\/e2e\/n\/mon-2\/hb {2}heartbeat {2}seq \d+/,
      );
  } finally {
    await agent.stop();
  }
  await c.managers.kill(agentHome);
  const dead = await c.fleet(watched, [
    "monitor",
    "--broker",
    brokerUrl(agentHome),
    "--count",
    "1",
  ]);
  assert.equal(dead.code, 1);
  assert.match(
    dead.stderr,
    /cannot reach the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+: .*\(use --broker URL\)/,
  );
});
