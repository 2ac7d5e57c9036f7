// Re-enrolment end to end in one process: the real agent session and certificate renewal
// (edge-agent/session, edge-agent/renewal.ts) with a certificate that expired two days ago,
// against the secure broker and the leader's RenewalService with a real CA. The agent connects
// in the restricted mode (no hello: the "dispatcher" here sees nothing), sends its csr, installs
// the new certificate, reconnects normally and says hello; the broker never had to refuse it
// anything.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeMessage } from "../../core/codec/index.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { DAY_MS } from "../../core/crypto/testing.ts";
import { topics } from "../../core/topics.ts";
import { CertificateRenewal, certPaths } from "../../edge-agent/renewal.ts";
import { Session, type SessionWorker } from "../../edge-agent/session/session.ts";
import { CertificateAuthority } from "../ca/ca.ts";
import { RenewalService } from "../ca/renewal-service.ts";
import type { Bus } from "../dispatcher/bus.ts";
import { description } from "../dispatcher/testing.ts";
import { brokerSecurity } from "../secure.ts";
import { TestCluster } from "../secure-testing.ts";
import { Broker } from "./broker.ts";

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("an agent back two days after expiry re-enrols over a restricted session, then says hello", async () => {
  const cluster = new TestCluster("c1");
  const manager = cluster.issue("mgr1", "manager");
  const deps = cluster.deps(() => manager);
  const { tls, authorizer } = brokerSecurity(deps);
  const broker = await Broker.start({ id: "mgr1", tls, authorizer });
  const bus: Bus = {
    publish: (t, p, o) => broker.publish(t, typeof p === "string" ? p : Buffer.from(p), o),
    subscribe: async (f, h) => {
      const off = await broker.subscribe(f, (m) => h(m.topic, new Uint8Array(m.payload)));
      return { unsubscribe: off };
    },
    close: async () => undefined,
  };
  const ca = new CertificateAuthority({
    clusterId: "c1",
    root: cluster.root,
    joinTokenHashes: { worker: "", manager: "" },
  });
  const service = new RenewalService({
    bus,
    clusterId: "c1",
    ca: () => ca,
    node: (id) => (id === "w1" ? { role: "worker" } : undefined),
  });
  await service.start();
  const hellos: string[] = [];
  await broker.subscribe("fleet/c1/n/+/hello", (m) => {
    const node = m.topic.split("/")[3]!;
    hellos.push(node);
    const body = encodeMessage("assign", { version: hellos.length, tasks: [] });
    void broker.publish(`fleet/c1/n/${node}/assign`, Buffer.from(body), { qos: 1 });
  });
  const roles: string[] = [];
  const watch = setInterval(() => {
    for (const s of broker.sessions()) if (s.identity.nodeId === "w1") roles.push(s.identity.role);
  }, 5);

  const old = cluster.issue("w1", "worker", {
    nowMs: Date.now() - 92 * DAY_MS,
    expiryMs: 90 * DAY_MS,
  });
  const dir = mkdtempSync(join(tmpdir(), "fleet-reenrol-agent-"));
  mkdirSync(join(dir, "certs"));
  const paths = certPaths(dir);
  writeFileSync(paths.ca, old.caPem);
  writeFileSync(paths.cert, old.certPem);
  writeFileSync(paths.key, old.keyPem);
  let online = false;
  const worker: SessionWorker = {
    assignVersion: 0,
    statuses: () => [],
    setAssignment: () => true,
    setOnline: (v) => {
      online = v;
    },
    runningCount: () => 0,
  };
  let session: Session | undefined;
  const renewal = new CertificateRenewal(
    {
      clusterId: "c1",
      nodeId: "w1",
      paths,
      link: {
        publish: (t, p, q) => session?.publish(t, p, q) ?? false,
        updateTls: (m) => session?.updateTls(m),
      },
    },
    { caPem: old.caPem, certPem: old.certPem, keyPem: old.keyPem },
  );
  const certTopic = topics("c1").cert("w1");
  const held: boolean[] = [];
  session = new Session({
    clusterId: "c1",
    nodeId: "w1",
    brokers: [broker.url],
    worker,
    describe: () => description("w1"),
    agentVersion: "test",
    tls: { ca: old.caPem, cert: old.certPem, key: old.keyPem, servername: "fleet-manager" },
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    random: () => 0.5,
    subscriptions: [certTopic],
    reenrolling: () => renewal.reenrolling(),
    reenrolTopics: [certTopic],
    onReady: ({ reenrolling }) => {
      // While re-enrolling, anything but the csr (gossip, logs) is held back by the session.
      if (reenrolling) held.push(session!.publish("fleet/c1/gossip/w1", new Uint8Array(1), 0));
      renewal.onReady();
    },
    onMessage: (t, p) => {
      if (t === certTopic) renewal.onCert(p);
    },
  });
  try {
    assert.equal(renewal.reenrolling(), true);
    session.start();
    renewal.start();
    await until("the node's hello after re-enrolment", () => hellos.includes("w1"));
    await until("the worker online", () => online);
    assert.equal(service.stats.reenrolled, 1);
    assert.equal(renewal.stats.renewed, 1);
    assert.ok(roles.includes("reenrolling"), "first a restricted session");
    assert.deepEqual(held, [false], "a gossip publish was held back on the restricted session");
    assert.equal(roles.at(-1), "node", "then a normal one");
    const onDisk = parseCertificate(readFileSync(paths.cert, "utf8"));
    assert.notEqual(onDisk.serial, old.serial);
    assert.ok(onDisk.notAfterMs > Date.now() + 80 * DAY_MS);
    const live = broker.sessions().find((s) => s.identity.nodeId === "w1");
    assert.equal(live?.identity.serial, onDisk.serial);
    assert.ok(!cluster.logged("re-enrolling w1 may not"), "the agent asked for nothing refused");
  } finally {
    clearInterval(watch);
    renewal.stop();
    await session.stop();
    await service.stop();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
