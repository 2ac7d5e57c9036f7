// The re-enrolment window at a running secure broker follows `fleet cluster update
// --reenrol-window` (POST /v1/cluster/update through the API's router) without a restart: the
// broker's SecurityDeps come from the store (manager/daemon-security.ts), as the daemon's do. A
// worker certificate that expired 5 days ago is admitted to a re-enrolment session under the
// default window (30 days, a cluster object without the field), refused once the window is
// 48 h (reason logged), and admitted again at 10 days.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { DAY_MS } from "../../core/crypto/testing.ts";
import { ApiServer } from "../api/server.ts";
import { call, testWorld } from "../api/testing.ts";
import { securityDeps, watchRevocations } from "../daemon-security.ts";
import { brokerSecurity, type NodeTls } from "../secure.ts";
import { recordingLogger, TestCluster } from "../secure-testing.ts";
import { Broker } from "./broker.ts";

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

const cluster = new TestCluster("c1");
const manager = cluster.issue("mgr1", "manager", { ipAddresses: ["127.0.0.1"] });
const w = testWorld();
const api = new ApiServer(w.ctx, {});
let broker: Broker;
let watch: { close(): void } | undefined;

before(async () => {
  // A cluster object written before the setting existed.
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    const { reenrolWindowMs: _, ...spec } = c.spec;
    tx.update("clusters", { ...c, spec });
  });
  const sec = securityDeps(w.store, "c1", () => manager, recordingLogger(cluster.log));
  const { tls, authorizer } = brokerSecurity(sec);
  broker = await Broker.start({ id: "mgr1", tls, authorizer });
  // As the daemon: every change of the cluster object re-checks the live sessions.
  watch = watchRevocations(w.store, broker, sec);
});
after(async () => {
  watch?.close();
  await broker.close();
});

async function setWindow(ms: number): Promise<void> {
  const c = w.store.view((tx) => tx.get("clusters", "c1"))!;
  const r = await call(api, "POST", `/v1/cluster/update?version=${c.version}`, {
    ...c.spec,
    reenrolWindowMs: ms,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

async function admitted(tls: NodeTls, id: string): Promise<boolean> {
  const a = await attempt(broker.port, tls, `fleet-agent-${id}`);
  if (a.ok) await a.client.endAsync(true);
  return a.ok;
}

test("a shortened window refuses what the default admits; a lengthened one admits it", async () => {
  const w5 = cluster.issue("w5", "worker", {
    nowMs: Date.now() - 5 * DAY_MS - 90 * DAY_MS,
    expiryMs: 90 * DAY_MS,
  });
  assert.equal(await admitted(w5, "w5"), true, "default window (30 days)");
  assert.ok(cluster.logged("re-enrolment session admitted"));

  await setWindow(2 * DAY_MS);
  assert.equal(await admitted(w5, "w5"), false, "48 h window");
  assert.ok(cluster.logged("past the re-enrolment window of 172800 s"));

  await setWindow(10 * DAY_MS);
  assert.equal(await admitted(w5, "w5"), true, "10-day window");

  await setWindow(0);
  assert.equal(await admitted(w5, "w5"), false, "0: re-enrolment off");
  const c = w.store.view((tx) => tx.get("clusters", "c1"))!;
  const url = `/v1/cluster/update?version=${c.version}`;
  const bad = await call(api, "POST", url, { ...c.spec, reenrolWindowMs: -1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "invalid_spec");
  assert.equal(w.store.view((tx) => tx.get("clusters", "c1"))!.spec.reenrolWindowMs, 0);
});

test("a live re-enrolment session ends when the window is shortened past it", async () => {
  await setWindow(10 * DAY_MS);
  const w6 = cluster.issue("w6", "worker", {
    nowMs: Date.now() - 5 * DAY_MS - 90 * DAY_MS,
    expiryMs: 90 * DAY_MS,
  });
  const a = await attempt(broker.port, w6, "fleet-agent-w6");
  assert.ok(a.ok, a.ok ? "" : a.why);
  const client = a.client;
  try {
    const closed = new Promise<void>((r) => client.once("close", () => r()));
    // Admitted under 10 days: without the live window it would last 5 days more.
    await setWindow(2 * DAY_MS);
    const deadline = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("the session was not dropped")), 5000).unref(),
    );
    await Promise.race([closed, deadline]);
    assert.ok(cluster.logged("re-enrolment window closed"));
  } finally {
    client.end(true);
  }
});
