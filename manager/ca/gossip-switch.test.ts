// The cluster's gossip switch end to end on one manager's parts: `POST /v1/cluster/update` with
// `gossip: false` (the API's router, a LocalWriter store) -> the real Dispatcher republishes
// every node's assignment -> real agents (startAgent, in-memory executor) on a real mosquitto
// stop gossiping and clear their retained statuses; `gossip: true` brings them back. mosquitto
// is started and stopped by pid; temp dirs removed.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { newGossipKeyRing } from "../../core/gossip-keys.ts";
import { topics } from "../../core/topics.ts";
import { type Agent, startAgent } from "../../edge-agent/agent.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { need, startMosquitto } from "../../test/support/real.ts";
import { ApiServer } from "../api/server.ts";
import { call, testWorld } from "../api/testing.ts";
import { Dispatcher } from "../dispatcher/dispatcher.ts";
import { silentLogger } from "../dispatcher/log.ts";
import { MqttBus } from "../dispatcher/mqtt-bus.ts";

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

test("fleet cluster update gossip off/on reaches real agents through the dispatcher and mosquitto", async (t) => {
  if (!need(t, "mosquitto")) return;
  const mosq = await startMosquitto();
  const url = `mqtt://127.0.0.1:${mosq.port}`;
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-switch-"));
  const w = testWorld();
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    const ring = newGossipKeyRing((n) => new Uint8Array(randomBytes(n)), Date.now());
    tx.update("clusters", { ...c, gossipKeys: ring });
  });
  const api = new ApiServer(w.ctx);
  const bus = await MqttBus.connect({ url });
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
      agents.push(
        startAgent(
          {
            dataDir: join(dir, id),
            clusterId: "c1",
            nodeId: id,
            brokers: [url],
            hostname: `${id}.example`,
            labels: {},
            heartbeatPeriodMs: 1000,
            offlineAfterMs: 60_000,
            pollIntervalMs: 200,
          },
          new MemoryExecutor(),
          { log: () => {} },
        ),
      );
    }
    const [w1, w2] = agents as [Agent, Agent];
    const see = (a: Agent, id: string) => a.gossip.peers().some((p) => p.nodeId === id);
    await until("w1 and w2 see each other", () => see(w1, "w2") && see(w2, "w1"));
    assert.deepEqual(await retained(url, ["w1", "w2"]), ["w1", "w2"]);

    await setGossip(false);
    await until("both agents off with empty peer tables", () =>
      [w1, w2].every((a) => !a.gossip.active && a.gossip.peers().length === 0),
    );
    let left = await retained(url, ["w1", "w2"]);
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await retained(url, ["w1", "w2"]);
    }
    assert.deepEqual(left, [], "both retained statuses cleared");
    const published = w1.gossip.stats.published + w2.gossip.stats.published;

    await setGossip(true);
    await until("w1 and w2 see each other again", () => see(w1, "w2") && see(w2, "w1"));
    assert.ok(w1.gossip.stats.published + w2.gossip.stats.published > published);
    assert.deepEqual(await retained(url, ["w1", "w2"]), ["w1", "w2"]);
  } finally {
    for (const a of agents) await a.stop();
    await dispatcher.stop();
    await bus.close();
    await mosq.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
