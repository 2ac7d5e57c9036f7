// The cluster's gossip switch end to end on one manager's parts: `POST /v1/cluster/update` with
// `gossip: false` (the API's router, a LocalWriter store) -> the real Dispatcher (on an MqttBus,
// as the leader's) republishes every node's assignment -> real agents (startAgent, in-memory
// executor) stop gossiping and clear their retained statuses; `gossip: true` brings them back.
// Twice: on a real mosquitto (plain), and on the embedded broker in secure mode (mTLS, the
// per-node ACL: an agent's empty retained publish on its own gossip topic is allowed).
// mosquitto is started and stopped by pid; temp dirs removed.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { MANAGER_SERVER_NAME } from "../../core/crypto/names.ts";
import { newGossipKeyRing } from "../../core/gossip-keys.ts";
import { topics } from "../../core/topics.ts";
import { type Agent, startAgent } from "../../edge-agent/agent.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { need, startMosquitto } from "../../test/support/real.ts";
import { ApiServer } from "../api/server.ts";
import { call, testWorld } from "../api/testing.ts";
import { Broker } from "../broker/broker.ts";
import { Dispatcher } from "../dispatcher/dispatcher.ts";
import { silentLogger } from "../dispatcher/log.ts";
import { MqttBus, type MqttBusOptions } from "../dispatcher/mqtt-bus.ts";
import { brokerSecurity } from "../secure.ts";
import { TestCluster, writeTls } from "../secure-testing.ts";

const T = topics("c1");

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The nodes whose gossip status the broker retains: one subscription per node topic, then a
 * retained marker (mosquitto sends a subscription's retained messages before it reads the next
 * SUBSCRIBE, so once the marker is in, every status there is has come). */
async function retained(url: string, ids: string[]): Promise<string[]> {
  const c = await mqtt.connectAsync(url, { clientId: `check-${randomBytes(4).toString("hex")}` });
  try {
    const marker = `${T.root}/check/marker`;
    await c.publishAsync(marker, "m", { qos: 1, retain: true });
    const got: string[] = [];
    let marked = false;
    c.on("message", (topic, payload) => {
      if (topic === marker) marked = true;
      else if (payload.length > 0) got.push(topic.split("/").at(-1)!);
    });
    for (const id of ids) await c.subscribeAsync(T.gossip(id), { qos: 0 });
    await c.subscribeAsync(marker, { qos: 0 });
    await until("the marker", () => marked, 10_000);
    return got.sort();
  } finally {
    await c.endAsync(true);
  }
}

interface Setup {
  url: string;
  bus: MqttBusOptions;
  /** The agent's TLS files, in secure mode. */
  tls?: (id: string, dir: string) => { certFile: string; keyFile: string; caFile: string };
  /** The nodes whose gossip status the broker retains. */
  retained(ids: string[]): Promise<string[]>;
}

async function scenario(o: Setup): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-switch-"));
  const w = testWorld();
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    const ring = newGossipKeyRing((n) => new Uint8Array(randomBytes(n)), Date.now());
    tx.update("clusters", { ...c, gossipKeys: ring });
  });
  const api = new ApiServer(w.ctx);
  const bus = await MqttBus.connect(o.bus);
  const dispatcher = new Dispatcher({
    writer: w.ctx.writer,
    bus,
    clusterId: "c1",
    logger: silentLogger,
  });
  const agents: Agent[] = [];
  const setGossip = async (on: boolean) => {
    const cur = w.store.view((tx) => tx.get("clusters", "c1"))!;
    const r = await call(api, "POST", `/v1/cluster/update?version=${cur.version}`, {
      ...cur.spec,
      gossip: on,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  try {
    await dispatcher.start();
    for (const id of ["w1", "w2"]) {
      const tls = o.tls?.(id, dir);
      agents.push(
        startAgent(
          {
            dataDir: join(dir, id),
            clusterId: "c1",
            nodeId: id,
            brokers: [o.url],
            hostname: `${id}.example`,
            labels: {},
            heartbeatPeriodMs: 1000,
            offlineAfterMs: 60_000,
            pollIntervalMs: 200,
            ...(tls ? { tls } : {}),
          },
          new MemoryExecutor(),
          { log: () => {} },
        ),
      );
    }
    const [w1, w2] = agents as [Agent, Agent];
    const see = (a: Agent, id: string) => a.gossip.peers().some((p) => p.nodeId === id);
    await until("w1 and w2 see each other", () => see(w1, "w2") && see(w2, "w1"));
    assert.deepEqual(await o.retained(["w1", "w2"]), ["w1", "w2"]);

    await setGossip(false);
    await until("both agents off with empty peer tables", () =>
      [w1, w2].every((a) => !a.gossip.active && a.gossip.peers().length === 0),
    );
    // The clear is QoS 0 and may trail the switch by a moment: asked until empty, bounded.
    let left = await o.retained(["w1", "w2"]);
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await o.retained(["w1", "w2"]);
    }
    assert.deepEqual(left, [], "both retained statuses cleared");
    const published = w1.gossip.stats.published + w2.gossip.stats.published;

    await setGossip(true);
    await until("w1 and w2 see each other again", () => see(w1, "w2") && see(w2, "w1"));
    assert.ok(w1.gossip.stats.published + w2.gossip.stats.published > published);
    assert.deepEqual(await o.retained(["w1", "w2"]), ["w1", "w2"]);
  } finally {
    for (const a of agents) await a.stop();
    await dispatcher.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("cluster update gossip off/on reaches real agents through the dispatcher and mosquitto", async (t) => {
  if (!need(t, "mosquitto")) return;
  const mosq = await startMosquitto();
  const url = `mqtt://127.0.0.1:${mosq.port}`;
  try {
    await scenario({ url, bus: { url }, retained: (ids) => retained(url, ids) });
  } finally {
    await mosq.stop();
  }
});

test("the same on the embedded broker in secure mode (mTLS, per-node ACL)", async () => {
  const cluster = new TestCluster("c1");
  const mgr = cluster.issue("m1", "manager");
  const { tls, authorizer } = brokerSecurity(cluster.deps(() => mgr));
  const broker = await Broker.start({ id: "m1", tls, authorizer });
  try {
    await scenario({
      url: broker.url,
      bus: {
        url: broker.url,
        clientId: "fleet-dispatcher-m1",
        mqtt: {
          ca: mgr.caPem,
          cert: mgr.certPem,
          key: mgr.keyPem,
          servername: MANAGER_SERVER_NAME,
        },
      },
      tls: (id, dir) => {
        const p = writeTls(dir, id, cluster.issue(id, "worker"));
        return { certFile: p.cert, keyFile: p.key, caFile: p.ca };
      },
      retained: async (ids) => {
        const topics = new Set(ids.map((id) => T.gossip(id)));
        const all = await broker.retained(`${T.root}/gossip/+`);
        return all
          .filter((m) => topics.has(m.topic) && m.payload.length > 0)
          .map((m) => m.topic.split("/").at(-1)!)
          .sort();
      },
    });
    assert.ok(!cluster.logged("refused"), JSON.stringify(cluster.log));
  } finally {
    await broker.close();
  }
});
