// Sealed gossip end to end through a real broker: a mosquitto configured by `mosquittoConfig`
// (TLS 1.3, client certificates, the per-node ACL: a node writes only gossip/<its id>), real
// agents (startAgent on the in-memory executor) and a stand-in leader that answers hellos with
// assignments carrying the cluster's gossip key ring. Two agents see each other; a rotated ring
// is picked up; a status sealed with the old key opens during the grace and is refused after it;
// a status naming another node than its topic is refused, and the broker drops a publish on
// another node's topic. The cluster's gossip switch: off, the agents unsubscribe, clear their
// retained statuses and stop hearing each other; on again, they resume. mosquitto is started and
// stopped by pid; files in a temp dir removed.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { encodeCbor, encodeMessage, type WireGossipKeys } from "../../core/codec/index.ts";
import { privateKeyToPem } from "../../core/crypto/keys.ts";
import { testKey } from "../../core/crypto/testing.ts";
import { type GossipStatus, gossipAad, sealGossip } from "../../core/gossip.ts";
import {
  type GossipKeyRing,
  newGossipKeyRing,
  rotateGossipKeyRing,
  wireGossipKeys,
} from "../../core/gossip-keys.ts";
import { parseNodeTopic, topics } from "../../core/topics.ts";
import { type Agent, startAgent } from "../../edge-agent/agent.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { aesGcm, gossipNonce } from "../../edge-agent/gossip-cipher.ts";
import { formatPeers, readPeers } from "../../edge-agent/gossip-peers.ts";
import { certPaths } from "../../edge-agent/renewal.ts";
import { task } from "../../edge-agent/worker/testing.ts";
import { freePort, need, type RunningMosquitto, runMosquitto } from "../../test/support/real.ts";
import { MqttBus } from "../dispatcher/mqtt-bus.ts";
import { CertificateAuthority } from "./ca.ts";
import { mosquittoConfig } from "./mosquitto-config.ts";

const CLUSTER = "c1";
const T = topics(CLUSTER);
const IMAGE = "busybox:latest";
const systemRandomForTests = (n: number) => new Uint8Array(randomBytes(n));

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100_000 && !ok(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

class Broker {
  readonly dir = mkdtempSync(join(tmpdir(), "fleet-gossip-"));
  readonly ca = CertificateAuthority.create({ clusterId: CLUSTER }).ca;
  port = 0;
  #mosquitto: RunningMosquitto | undefined;

  material(id: string, role: "worker" | "manager") {
    const key = testKey(`gossip:${id}`);
    const issued = this.ca.issue(id, role, key.publicKey, { ipAddresses: ["127.0.0.1"] });
    const paths = certPaths(join(this.dir, id));
    mkdirSync(join(this.dir, id, "certs"), { recursive: true });
    writeFileSync(paths.ca, this.ca.root.certPem);
    writeFileSync(paths.cert, issued.certPem);
    writeFileSync(paths.key, privateKeyToPem(key), { mode: 0o600 });
    return paths;
  }

  tls(id: string, role: "worker" | "manager") {
    const p = this.material(id, role);
    return {
      ca: readFileSync(p.ca),
      cert: readFileSync(p.cert),
      key: readFileSync(p.key),
      rejectUnauthorized: true,
    };
  }

  async start(): Promise<void> {
    const broker = this.material("broker", "manager");
    this.port = await freePort();
    const { conf, acl } = mosquittoConfig({
      clusterId: CLUSTER,
      port: this.port,
      bindAddress: "127.0.0.1",
      caFile: broker.ca,
      certFile: broker.cert,
      keyFile: broker.key,
      aclFile: join(this.dir, "acl"),
      managers: ["m1"],
      admins: [],
    });
    writeFileSync(join(this.dir, "mosquitto.conf"), `${conf}user ${userInfo().username}\n`);
    writeFileSync(join(this.dir, "acl"), acl);
    this.#mosquitto = await runMosquitto(join(this.dir, "mosquitto.conf"), [this.port]);
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await this.#mosquitto?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The leader's side: every hello gets a one-task assignment with the current ring (and the
 * cluster's gossip switch, when set). */
async function leader(
  b: Broker,
  ring: { value: GossipKeyRing; version: number; enabled?: boolean },
) {
  const bus = await MqttBus.connect({
    url: b.url,
    clientId: "m1-leader",
    mqtt: b.tls("m1", "manager"),
  });
  const send = (nodeId: string) => {
    const tasks = [task(`task-${nodeId}`, { image: IMAGE, args: ["sleep", "300"] })];
    const body = encodeMessage("assign", {
      version: ring.version,
      tasks,
      gossip: wireGossipKeys(ring.value),
      ...(ring.enabled === undefined ? {} : { gossipEnabled: ring.enabled }),
    });
    return bus.publish(T.assign(nodeId), body, { qos: 1, retain: true });
  };
  await bus.subscribe(`${T.root}/n/+/hello`, (topic) => void send(parseNodeTopic(topic)!.nodeId));
  return { bus, send };
}

function agentOn(b: Broker, id: string): { agent: Agent; logs: string[] } {
  const paths = b.material(id, "worker");
  const ex = new MemoryExecutor();
  ex.images.add(IMAGE);
  const logs: string[] = [];
  const agent = startAgent(
    {
      dataDir: join(b.dir, id),
      clusterId: CLUSTER,
      nodeId: id,
      brokers: [b.url],
      hostname: `${id}.example`,
      labels: {},
      heartbeatPeriodMs: 1000,
      offlineAfterMs: 60_000,
      pollIntervalMs: 200,
      tls: { certFile: paths.cert, keyFile: paths.key, caFile: paths.ca },
    },
    ex,
    { log: (l) => logs.push(l) },
  );
  return { agent, logs };
}

const status = (nodeId: string, hostname: string): GossipStatus => ({
  nodeId,
  hostname,
  timeMs: Date.now(),
  seq: 1,
  services: [],
});

test("agents gossip through a real mosquitto: peers, rotation with grace, forgeries refused", async (t) => {
  if (!need(t, "mosquitto")) return;
  const b = new Broker();
  const agents: Agent[] = [];
  let lead: Awaited<ReturnType<typeof leader>> | undefined;
  let w3: mqtt.MqttClient | undefined;
  try {
    await b.start();
    const ring = { value: newGossipKeyRing(systemRandomForTests, Date.now()), version: 1 };
    lead = await leader(b, ring);
    const [w1, w2] = [agentOn(b, "w1").agent, agentOn(b, "w2").agent];
    agents.push(w1, w2);
    const peerOf = (a: Agent, id: string) => a.gossip.peers().find((p) => p.nodeId === id);

    // 1. Two agents see each other, with their running task, sealed with key 1.
    await until("w1 and w2 see each other running", () =>
      [peerOf(w1, "w2"), peerOf(w2, "w1")].every((p) => p?.services[0]?.running === 1),
    );
    assert.equal(peerOf(w1, "w2")!.hostname, "w2.example");
    assert.equal(peerOf(w1, "w2")!.keyId, 1);
    await until("w1's peer table on disk", () => {
      try {
        return readPeers(join(b.dir, "w1")).peers.some((p) => p.services[0]?.running === 1);
      } catch {
        return false;
      }
    });
    assert.match(formatPeers(readPeers(join(b.dir, "w1")), Date.now()), /w2\s+w2\.example/);

    // 2. Rotation: a new ring (grace 4 s) in a new assignment; both agents switch to key 2.
    const graceMs = 4000;
    const old = wireGossipKeys(ring.value);
    ring.value = rotateGossipKeyRing(ring.value, systemRandomForTests, Date.now(), graceMs);
    ring.version = 2;
    const until1 = ring.value.keys.find((k) => k.id === 1)!.until!;
    await Promise.all([lead.send("w1"), lead.send("w2")]);
    await until("both hold key 2 and hear each other under it", () =>
      [peerOf(w1, "w2"), peerOf(w2, "w1")].every((p) => p?.keyId === 2),
    );

    // 3. A third node (its own certificate) still on the old ring: opens within the grace.
    w3 = mqtt.connect(b.url, {
      ...b.tls("w3", "worker"),
      clientId: "fleet-agent-w3",
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve, reject) => {
      w3!.once("connect", () => resolve());
      w3!.once("error", reject);
    });
    const pub = (topic: string, payload: Uint8Array) =>
      w3!.publishAsync(topic, Buffer.from(payload), { qos: 1 });
    const seal = (keys: WireGossipKeys, st: GossipStatus) =>
      sealGossip({ cipher: aesGcm, keys, clusterId: CLUSTER, status: st, nonce: gossipNonce() });
    await pub(T.gossip("w3"), seal(old, status("w3", "old-key")));
    await until("w1 opens w3's key-1 status in the grace", () => peerOf(w1, "w3")?.keyId === 1);
    assert.ok(Date.now() < until1, "the message was sent within the grace");

    // 4. After the grace the same key is refused (the peer entry keeps its last good status).
    await until("the grace is over", () => Date.now() > until1 + 50, graceMs + 5000);
    const expiredBefore = w1.gossip.stats.refused["expired-key"] ?? 0;
    await pub(T.gossip("w3"), seal(old, status("w3", "too-late")));
    await until(
      "w1 refuses key 1 after the grace",
      () => (w1.gossip.stats.refused["expired-key"] ?? 0) > expiredBefore,
    );
    assert.equal(peerOf(w1, "w3")?.hostname, "old-key");

    // 5. Forgeries. A key holder seals a status naming w1 on its own topic: wrong sender.
    const now = wireGossipKeys(ring.value);
    const k = now.keys[0]!;
    const nonce = gossipNonce();
    const sealed = aesGcm.seal(
      k.key,
      nonce,
      gossipAad(T.gossip("w3"), k.id),
      encodeCbor(status("w1", "forged")),
    );
    await pub(T.gossip("w3"), encodeMessage("gossip", { keyId: k.id, nonce, sealed }));
    await until(
      "w2 refuses the forged sender",
      () => (w2.gossip.stats.refused["wrong-sender"] ?? 0) >= 1,
    );
    // ... and publishing on w1's topic is dropped by the broker's ACL: a marker sent after it on
    // w3's own topic arrives, the forgery never does.
    await pub(T.gossip("w1"), seal(now, status("w1", "forged-topic"))).catch(() => {});
    if (w3.connected) {
      await pub(T.gossip("w3"), seal(now, status("w3", "marker")));
      await until("w2 hears w3's marker", () => peerOf(w2, "w3")?.hostname === "marker");
    }
    assert.equal(peerOf(w2, "w1")?.hostname, "w1.example", "w1's entry is w1's own");
    assert.equal(peerOf(w1, "w2")?.hostname, "w2.example");
  } finally {
    w3?.end(true);
    for (const a of agents) await a.stop();
    await lead?.bus.close();
    await b.stop();
  }
});

/** The retained gossip statuses the broker holds for `ids`: a fresh manager client subscribes
 * to each node's topic, then to a marker topic holding a retained message; mosquitto sends a
 * subscription's retained messages before it reads the next SUBSCRIBE, so once the marker is
 * in, every retained status there is has come. */
async function retainedStatuses(b: Broker, ids: string[]): Promise<string[]> {
  const c = await mqtt.connectAsync(b.url, {
    ...b.tls("m1", "manager"),
    clientId: `m1-check-${randomBytes(4).toString("hex")}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
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
    await until("the marker's retained message", () => marked, 10_000);
    return got.sort();
  } finally {
    await c.endAsync(true);
  }
}

test("the cluster's gossip switch through a real mosquitto: off clears and silences, on resumes", async (t) => {
  if (!need(t, "mosquitto")) return;
  const b = new Broker();
  const agents: Agent[] = [];
  let lead: Awaited<ReturnType<typeof leader>> | undefined;
  let w3: mqtt.MqttClient | undefined;
  try {
    await b.start();
    const ring = {
      value: newGossipKeyRing(systemRandomForTests, Date.now()),
      version: 1,
      enabled: true as boolean,
    };
    lead = await leader(b, ring);
    const [w1, w2] = [agentOn(b, "w1").agent, agentOn(b, "w2").agent];
    agents.push(w1, w2);
    const peerOf = (a: Agent, id: string) => a.gossip.peers().find((p) => p.nodeId === id);
    await until("w1 and w2 see each other", () => !!peerOf(w1, "w2") && !!peerOf(w2, "w1"));
    assert.deepEqual(await retainedStatuses(b, ["w1", "w2"]), ["w1", "w2"]);

    // Off: a new assignment version with gossipEnabled false.
    ring.enabled = false;
    ring.version = 2;
    await Promise.all([lead.send("w1"), lead.send("w2")]);
    await until("both agents off, their peer tables empty", () =>
      [w1, w2].every((a) => !a.gossip.active && a.gossip.peers().length === 0),
    );
    // Each cleared its own retained status (an empty retained publish on its own topic, which
    // the per-node ACL allows): the broker holds none.
    // (The clear is QoS 0 and may trail the agent's switch by a moment: asked until empty.)
    let left = await retainedStatuses(b, ["w1", "w2"]);
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await retainedStatuses(b, ["w1", "w2"]);
    }
    assert.deepEqual(left, [], "no retained gossip status left");
    const published = w1.gossip.stats.published;

    // Unsubscribed at the broker: a third node's status (QoS 1, acknowledged) is queued before
    // the next assignment the leader sends, so had w1 still been subscribed it would have come
    // first; it never reaches w1's gossip.
    const heard: string[] = [];
    const versions: number[] = [];
    const g = w1.gossip;
    const onMessage = g.onMessage.bind(g);
    const onAssignment = g.onAssignment.bind(g);
    g.onMessage = (topic, payload) => {
      heard.push(topic);
      onMessage(topic, payload);
    };
    g.onAssignment = (a) => {
      versions.push(a.version);
      onAssignment(a);
    };
    w3 = await mqtt.connectAsync(b.url, {
      ...b.tls("w3", "worker"),
      clientId: "fleet-agent-w3",
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const keys = wireGossipKeys(ring.value);
    const sealed = sealGossip({
      cipher: aesGcm,
      keys,
      clusterId: CLUSTER,
      status: status("w3", "w3.example"),
      nonce: gossipNonce(),
    });
    await w3.publishAsync(T.gossip("w3"), Buffer.from(sealed), { qos: 1, retain: true });
    ring.version = 3;
    await lead.send("w1");
    await until("w1 got assignment 3", () => versions.includes(3));
    assert.deepEqual(heard, [], "w1 is not subscribed to gossip/+ any more");
    assert.equal(w1.gossip.stats.published, published, "w1 publishes nothing while off");
    assert.match(formatPeers(readPeers(join(b.dir, "w1")), Date.now()), /gossip off/);

    // On again: both subscribe, publish and hear each other (and w3's retained status).
    ring.enabled = true;
    ring.version = 4;
    await Promise.all([lead.send("w1"), lead.send("w2")]);
    await until("w1 and w2 see each other again", () => !!peerOf(w1, "w2") && !!peerOf(w2, "w1"));
    assert.ok(peerOf(w1, "w3"), "w3's retained status arrives with the new subscription");
    assert.deepEqual(await retainedStatuses(b, ["w1", "w2"]), ["w1", "w2"]);
  } finally {
    await w3?.endAsync(true);
    for (const a of agents) await a.stop();
    await lead?.bus.close();
    await b.stop();
  }
});
