// Re-enrolment at the embedded broker (manager/broker/reenrol.ts) with real clients on
// 127.0.0.1: a certificate expired less than the window ago gets a session restricted to its
// own csr and cert topics (no hello, heartbeat, status, assignment), logged; expired past the
// window, not yet valid, from another CA, revoked, of a removed node or an operator's: refused
// with the reason logged; the restricted session is dropped on revocation and once the window
// closes. The real mosquitto clients with an expired certificate are refused ordinary topics.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { DAY_MS } from "../../core/crypto/testing.ts";
import { need } from "../../test/support/real.ts";
import { brokerSecurity, dropRevoked, type NodeTls } from "../secure.ts";
import { TestCluster, writeTls } from "../secure-testing.ts";
import { Broker, type Message } from "./broker.ts";

const ROOT = "fleet/c1";
const WINDOW_MS = 30 * DAY_MS;

type Attempt = { ok: true; client: MqttClient } | { ok: false; why: string };

function attempt(port: number, tls: NodeTls, clientId: string): Promise<Attempt> {
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    ca: [tls.caPem],
    cert: tls.certPem,
    key: tls.keyPem,
    servername: "fleet-manager",
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId,
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

async function grantOf(c: MqttClient, filter: string): Promise<number> {
  try {
    return (await c.subscribeAsync(filter, { qos: 1 }))[0]?.qos ?? -1;
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted?.length === 1) return granted[0]!;
    throw err;
  }
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

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("re-enrolment at the secure broker", () => {
  const cluster = new TestCluster("c1");
  const manager = cluster.issue("mgr1", "manager", { ipAddresses: ["127.0.0.1"] });
  /** Expired `agoMs` ago (a 90-day certificate). */
  const expired = (nodeId: string, agoMs: number, role: "worker" | "admin" = "worker") =>
    cluster.issue(nodeId, role, { nowMs: Date.now() - agoMs - 90 * DAY_MS, expiryMs: 90 * DAY_MS });
  let offsetMs = 0;
  const deps = cluster.deps(() => manager, {
    now: () => Date.now() + offsetMs,
    reenrolWindowMs: () => WINDOW_MS,
  });
  let broker: Broker;
  const seen: Message[] = [];
  const clients: MqttClient[] = [];
  const dir = mkdtempSync(join(tmpdir(), "fleet-reenrol-"));

  before(async () => {
    const { tls, authorizer } = brokerSecurity(deps);
    broker = await Broker.start({ id: "mgr1", tls, authorizer });
    await broker.subscribe(`${ROOT}/#`, (m) => seen.push(m));
    await broker.publish(`${ROOT}/n/w5/assign`, "tasks-w5", { qos: 1, retain: true });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("expired within the window: its csr and cert topics only, refusals logged", async () => {
    const w5 = expired("w5", 2 * DAY_MS);
    const a = await attempt(broker.port, w5, "fleet-agent-w5");
    assert.ok(a.ok, a.ok ? "" : a.why);
    const c = a.client;
    clients.push(c);
    assert.ok(cluster.logged("re-enrolment session admitted"));
    assert.equal(await grantOf(c, `${ROOT}/n/w5/cert`), 1);
    for (const f of [`${ROOT}/n/w5/assign`, `${ROOT}/gossip/+`, `${ROOT}/n/w6/cert`, "#"])
      assert.equal(await grantOf(c, f), 128, f);
    assert.ok(cluster.logged("re-enrolling w5 may not subscribe fleet/c1/n/w5/assign"));
    const got = new Promise<string>((r) => c.on("message", (t, p) => r(`${t} ${p}`)));
    await c.publishAsync(`${ROOT}/n/w5/csr`, "csr-w5", { qos: 1 });
    assert.ok(seen.some((m) => m.topic === `${ROOT}/n/w5/csr` && String(m.payload) === "csr-w5"));
    await broker.publish(`${ROOT}/n/w5/cert`, "cert-w5", { qos: 1 });
    assert.equal(await got, `${ROOT}/n/w5/cert cert-w5`);
    // A hello (or heartbeat, status) cuts the session and never reaches the dispatcher.
    const cut = closed(c);
    c.publish(`${ROOT}/n/w5/hello`, "hello-w5", { qos: 1 });
    assert.equal(await cut, true);
    assert.ok(!seen.some((m) => String(m.payload) === "hello-w5"));
    assert.ok(cluster.logged("re-enrolling w5 may not publish fleet/c1/n/w5/hello"));
  });

  test("refused: past the window, not yet valid, another CA, revoked, removed, admin", async () => {
    const other = new TestCluster("c1", "ed25519", "another-ca");
    const revoked = expired("w8", DAY_MS);
    cluster.revoked.add(revoked.serial);
    cluster.removed.add("w9");
    const cases: [string, NodeTls, string, string][] = [
      ["past the window", expired("w6", WINDOW_MS + DAY_MS), "w6", "past the re-enrolment window"],
      [
        "not yet valid",
        cluster.issue("w7", "worker", { nowMs: Date.now() + 2 * DAY_MS }),
        "w7",
        "not yet valid",
      ],
      [
        "another CA",
        {
          ...other.issue("w1", "worker", {
            nowMs: Date.now() - 91 * DAY_MS,
            expiryMs: 90 * DAY_MS,
          }),
          caPem: manager.caPem,
        },
        "w1",
        "not issued by this cluster's CA",
      ],
      ["revoked", revoked, "w8", `certificate ${revoked.serial} of w8 is revoked`],
      ["removed node", expired("w9", DAY_MS), "w9", "node w9 was removed"],
      ["operator", expired("ops", DAY_MS, "admin"), "ops", "operator certificate of ops"],
      ["borrowed client id", expired("w10", DAY_MS), "w5", "re-enrolling w10 must use client id"],
    ];
    for (const [what, tls, id, reason] of cases) {
      const a = await attempt(broker.port, tls, `fleet-agent-${id}`);
      if (a.ok) clients.push(a.client);
      assert.equal(a.ok, false, what);
      assert.ok(cluster.logged(reason), `${what}: logged "${reason}"`);
    }
  });

  test("a re-enrolling session is dropped when revoked, and when its window closes", async () => {
    const w11 = expired("w11", DAY_MS);
    const a = await attempt(broker.port, w11, "fleet-agent-w11");
    assert.ok(a.ok);
    const gone = closed(a.client);
    assert.equal(dropRevoked(broker, deps), 0, "nothing to drop yet");
    cluster.revoked.add(w11.serial);
    assert.equal(dropRevoked(broker, deps), 1);
    assert.equal(await gone, true);
    a.client.end(true);

    const w12 = expired("w12", DAY_MS);
    const b = await attempt(broker.port, w12, "fleet-agent-w12");
    assert.ok(b.ok);
    const gone2 = closed(b.client);
    offsetMs = WINDOW_MS;
    try {
      assert.equal(dropRevoked(broker, deps), 1);
      assert.equal(await gone2, true);
    } finally {
      offsetMs = 0;
      b.client.end(true);
    }
  });

  test("mosquitto clients with an expired certificate: ordinary topics refused", async (t) => {
    if (!need(t, "mosquitto")) return;
    const w13 = expired("w13", DAY_MS);
    const p = writeTls(dir, "w13", w13);
    const base = [
      ...["-h", "127.0.0.1", "-p", String(broker.port), "--cafile", p.ca],
      ...["--cert", p.cert, "--key", p.key, "--tls-version", "tlsv1.3", "-i", "fleet-agent-w13"],
      "-q",
      "1",
    ];
    const sub = await run("mosquitto_sub", [...base, "-t", `${ROOT}/n/w13/assign`, "-C", "1"]);
    assert.match(sub.out, /subscription requests were denied/, sub.out);
    for (const topic of ["hello", "hb", "status"]) {
      const r = await run("mosquitto_pub", [...base, "-t", `${ROOT}/n/w13/${topic}`, "-m", "x"]);
      assert.notEqual(r.code, 0, `${topic}: ${r.out}`);
      assert.ok(cluster.logged(`re-enrolling w13 may not publish fleet/c1/n/w13/${topic}`));
    }
    const csr = await run("mosquitto_pub", [...base, "-t", `${ROOT}/n/w13/csr`, "-m", "csr13"]);
    assert.equal(csr.code, 0, csr.out);
    await until("the csr", () => seen.some((m) => String(m.payload) === "csr13"));
    assert.ok(!seen.some((m) => m.topic.startsWith(`${ROOT}/n/w13/`) && String(m.payload) === "x"));
  });
});

function run(
  cmd: string,
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += String(d);
    });
    p.stderr.on("data", (d) => {
      out += String(d);
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
