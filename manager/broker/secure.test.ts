// The broker in secure mode with real clients (mqtt.js over node:tls) on 127.0.0.1: who gets in
// (certificates of this cluster, join sessions with the token) and who is refused and why
// (no certificate, another CA, another cluster, expired, revoked, a borrowed client id), what a
// session may touch (core/crypto/acl.ts), and revoked sessions dropped on demand.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import mqtt, { type MqttClient } from "mqtt";
import { caDigest } from "../../core/crypto/identity.ts";
import { DAY_MS } from "../../core/crypto/testing.ts";
import { presentedChain } from "../../edge-agent/join/pinned.ts";
import { brokerSecurity, dropRevoked, type NodeTls } from "../secure.ts";
import { TEST_JOIN_TOKEN, TestCluster } from "../secure-testing.ts";
import { Broker, type Message } from "./broker.ts";

const ROOT = "fleet/c1";

type Attempt = { ok: true; client: MqttClient } | { ok: false; why: string };

/** Connects and resolves once CONNACK (or a refusal) arrives; bounded by the connect timeout. */
function attempt(
  port: number,
  tls: NodeTls | { caPem: string },
  o: { clientId: string; username?: string; password?: string },
): Promise<Attempt> {
  const withCert = "certPem" in tls ? { cert: tls.certPem, key: tls.keyPem } : {};
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    ca: [tls.caPem],
    ...withCert,
    servername: "fleet-manager",
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...o,
  });
  return new Promise((resolve) => {
    client.once("connect", () => resolve({ ok: true, client }));
    client.once("error", (e) => {
      client.end(true);
      resolve({ ok: false, why: e.message });
    });
    client.once("close", () => resolve({ ok: false, why: "closed" }));
  });
}

async function connected(
  port: number,
  tls: NodeTls,
  o: { clientId: string; username?: string; password?: string },
) {
  const a = await attempt(port, tls, o);
  assert.ok(a.ok, `connect: ${a.ok ? "" : a.why}`);
  return a.client;
}

function closed(c: MqttClient, ms = 5000): Promise<boolean> {
  if (!c.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    c.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The granted QoS for one filter (128 = refused). */
async function grantOf(c: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await c.subscribeAsync(filter, { qos: 1 });
    return granted[0]?.qos ?? -1;
  } catch (err) {
    // mqtt.js rejects a SUBACK that refuses every filter, carrying the packet.
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted?.length === 1) return granted[0]!;
    throw err;
  }
}

function nextMessage(c: MqttClient, topic: string, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic}`)), ms);
    c.on("message", (t, payload) => {
      if (t !== topic) return;
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

describe("secure broker", () => {
  const cluster = new TestCluster("c1");
  const manager = cluster.issue("mgr1", "manager", { ipAddresses: ["127.0.0.1"] });
  const w1 = cluster.issue("w1", "worker");
  const w2 = cluster.issue("w2", "worker");
  const deps = cluster.deps(() => manager);
  let broker: Broker;
  const seen: Message[] = [];
  const clients: MqttClient[] = [];
  const keep = (c: MqttClient) => {
    clients.push(c);
    return c;
  };

  before(async () => {
    const { tls, authorizer } = brokerSecurity(deps);
    broker = await Broker.start({ id: "mgr1", tls, authorizer });
    await broker.subscribe(`${ROOT}/#`, (m) => seen.push(m));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await broker.close();
  });

  test("the listener is TLS 1.3 and presents the chain leaf + root", async () => {
    assert.match(broker.url, /^mqtts:/);
    const socket = tlsConnect({ host: "127.0.0.1", port: broker.port, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    const chain = presentedChain(socket);
    const protocol = socket.getProtocol();
    socket.destroy();
    assert.equal(protocol, "TLSv1.3");
    assert.equal(chain.length, 2);
    assert.equal(caDigest(chain[1]!), cluster.root.digest);
  });

  test("a worker publishes its uplink and receives its assignment", async () => {
    const c = keep(await connected(broker.port, w1, { clientId: "fleet-agent-w1" }));
    assert.equal(await grantOf(c, `${ROOT}/n/w1/assign`), 1);
    assert.equal(await grantOf(c, `${ROOT}/gossip/+`), 1);
    const got = nextMessage(c, `${ROOT}/n/w1/assign`);
    await broker.publish(`${ROOT}/n/w1/assign`, "tasks", { qos: 1, retain: true });
    assert.equal(String(await got), "tasks");
    await c.publishAsync(`${ROOT}/n/w1/hello`, "hi", { qos: 1 });
    assert.ok(seen.some((m) => m.topic === `${ROOT}/n/w1/hello` && String(m.payload) === "hi"));
  });

  test("a worker may not subscribe to another node's assignments", async () => {
    const c = keep(await connected(broker.port, w2, { clientId: "fleet-agent-w2" }));
    assert.equal(await grantOf(c, `${ROOT}/n/w1/assign`), 128);
    assert.equal(await grantOf(c, `${ROOT}/n/+/assign`), 128);
    assert.equal(await grantOf(c, `${ROOT}/#`), 128);
    assert.equal(await grantOf(c, `${ROOT}/n/w2/assign`), 1);
    assert.ok(cluster.logged("worker w2 may not subscribe fleet/c1/n/w1/assign"));
  });

  test("a worker publishing another node's status is cut; others are not affected", async () => {
    const bystander = keep(await connected(broker.port, w1, { clientId: "fleet-agent-w1" }));
    const c = await connected(broker.port, w2, { clientId: "fleet-agent-w2" });
    const cut = closed(c);
    c.publish(`${ROOT}/n/w1/status`, "forged", { qos: 1 });
    assert.equal(await cut, true);
    c.end(true);
    assert.ok(!seen.some((m) => String(m.payload) === "forged"));
    assert.ok(cluster.logged("worker w2 may not publish fleet/c1/n/w1/status"));
    await bystander.publishAsync(`${ROOT}/n/w1/hb`, "alive", { qos: 1 });
    assert.ok(seen.some((m) => m.topic === `${ROOT}/n/w1/hb` && String(m.payload) === "alive"));
  });

  test("refused at CONNECT, each with its reason logged", async () => {
    const other = new TestCluster("c1", "ed25519", "another-ca");
    const cases: [string, NodeTls | { caPem: string }, string, Record<string, string>?][] = [
      ["no certificate", { caPem: manager.caPem }, "no client certificate"],
      ["another CA", { ...other.issue("w1", "worker"), caPem: manager.caPem }, "not issued by"],
      [
        "another cluster",
        { ...new TestCluster("c2").issue("w9", "worker"), caPem: manager.caPem },
        "not issued by",
      ],
      [
        "expired",
        // Expired 110 days ago: past the re-enrolment window (reenrol.test.ts has the rest).
        cluster.issue("w3", "worker", { nowMs: Date.now() - 200 * DAY_MS, expiryMs: 90 * DAY_MS }),
        "past the re-enrolment window",
      ],
      ["borrowed client id", w2, "must use client id fleet-agent-w2"],
      ["wrong join token", { caPem: manager.caPem }, "join token not valid", { password: "x" }],
    ];
    for (const [what, tls, reason, extra] of cases) {
      const clientId = what === "borrowed client id" ? "fleet-agent-w1" : `fleet-agent-w3`;
      const o = extra ? { clientId: "req9", username: "fleet-join", ...extra } : { clientId };
      const a = await attempt(broker.port, tls, o);
      assert.equal(a.ok, false, what);
      if (!a.ok) assert.match(a.why, /Not authorized|closed/i, what);
      assert.ok(cluster.logged(reason), `${what}: logged "${reason}"`);
    }
  });

  test("a revoked node is refused, and its live session dropped on demand", async () => {
    const w4 = cluster.issue("w4", "worker");
    const live = await connected(broker.port, w4, { clientId: "fleet-agent-w4" });
    const gone = closed(live);
    cluster.revoked.add(w4.serial);
    assert.equal(dropRevoked(broker, deps), 1);
    assert.equal(await gone, true);
    live.end(true);
    const again = await attempt(broker.port, w4, { clientId: "fleet-agent-w4" });
    assert.equal(again.ok, false);
    assert.ok(cluster.logged(`certificate ${w4.serial} of w4 is revoked`));
    cluster.removed.add("w1");
    const w1again = await attempt(broker.port, w1, { clientId: "fleet-agent-w1" });
    assert.equal(w1again.ok, false, "a removed node is refused whatever its serial");
    cluster.removed.delete("w1");
  });

  test("a join session may use only its own join topics", async () => {
    const noCert = { caPem: manager.caPem } as NodeTls;
    const j = await attempt(broker.port, noCert, {
      clientId: "req1",
      username: "fleet-join",
      password: TEST_JOIN_TOKEN,
    });
    assert.ok(j.ok);
    const c = keep(j.client);
    assert.equal(await grantOf(c, `${ROOT}/join/req1/resp`), 1);
    assert.equal(await grantOf(c, `${ROOT}/join/req2/resp`), 128);
    assert.equal(await grantOf(c, `${ROOT}/n/w1/assign`), 128);
    const resp = nextMessage(c, `${ROOT}/join/req1/resp`);
    await broker.publish(`${ROOT}/join/req1/resp`, "welcome", { qos: 1 });
    assert.equal(String(await resp), "welcome");
    await c.publishAsync(`${ROOT}/join/req1/req`, "csr", { qos: 1 });
    assert.ok(seen.some((m) => m.topic === `${ROOT}/join/req1/req`));
    const cut = closed(c);
    c.publish(`${ROOT}/n/req1/hello`, "sneaky", { qos: 1 });
    assert.equal(await cut, true);
    const reserved = await attempt(broker.port, noCert, {
      clientId: "fleet-agent-w1",
      username: "fleet-join",
      password: TEST_JOIN_TOKEN,
    });
    assert.equal(reserved.ok, false, "a join session may not borrow a node's client id");
  });

  test("an operator reads events and state, nothing else", async () => {
    const admin = cluster.issue("ops", "admin");
    const c = keep(await connected(broker.port, admin, { clientId: "fleet-monitor-1" }));
    assert.equal(await grantOf(c, `${ROOT}/events/#`), 1);
    assert.equal(await grantOf(c, `${ROOT}/state/#`), 1);
    assert.equal(await grantOf(c, `${ROOT}/n/+/assign`), 128);
  });

  test("a worker certificate cannot pose as a mesh link", async () => {
    const a = await attempt(broker.port, w1, {
      clientId: "fleet-mesh.w1",
      username: "fleet-mesh",
    });
    assert.equal(a.ok, false);
    assert.ok(cluster.logged("a worker certificate is not a manager's"));
  });
});
