// The real agent session (edge-agent/session) against the broker in secure mode: it dials
// mqtts://127.0.0.1 with its worker certificate and verifies the broker by the name every
// manager certificate carries (fleet-manager), gets its assignment, and after a renewal
// (updateTls) comes back with the new certificate; revoking the old serial costs nothing, revoking
// the new one drops the live session and refuses its reconnects.

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeMessage } from "../../core/codec/index.ts";
import { Session, type SessionWorker } from "../../edge-agent/session/session.ts";
import { description } from "../dispatcher/testing.ts";
import { brokerSecurity, dropRevoked } from "../secure.ts";
import { TestCluster } from "../secure-testing.ts";
import { Broker } from "./broker.ts";

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("an agent session connects with its certificate, renews, and is dropped once revoked", async () => {
  const cluster = new TestCluster("c1");
  const manager = cluster.issue("mgr1", "manager");
  const deps = cluster.deps(() => manager);
  const { tls, authorizer } = brokerSecurity(deps);
  const broker = await Broker.start({ id: "mgr1", tls, authorizer });
  let version = 0;
  await broker.subscribe("fleet/c1/n/+/hello", (m) => {
    const node = m.topic.split("/")[3]!;
    const body = encodeMessage("assign", { version: ++version, tasks: [] });
    void broker.publish(`fleet/c1/n/${node}/assign`, Buffer.from(body), { qos: 1, retain: true });
  });
  const assigned: number[] = [];
  const worker: SessionWorker = {
    assignVersion: 0,
    statuses: () => [],
    setAssignment: (a) => {
      assigned.push(a.version);
      return true;
    },
    setOnline: () => undefined,
    runningCount: () => 0,
  };
  const first = cluster.issue("w1", "worker");
  const session = new Session({
    clusterId: "c1",
    nodeId: "w1",
    brokers: [broker.url],
    worker,
    describe: () => description("w1"),
    agentVersion: "test",
    tls: {
      ca: first.caPem,
      cert: first.certPem,
      key: first.keyPem,
      servername: "fleet-manager",
    },
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    random: () => 0.5,
    log: () => undefined,
  });
  try {
    assert.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:/);
    session.start();
    await until("the first assignment", () => assigned.length >= 1);

    const renewed = cluster.issue("w1", "worker");
    session.updateTls({ cert: renewed.certPem, key: renewed.keyPem });
    await until("an assignment after the renewal", () => assigned.length >= 2);
    const serials = () =>
      broker.sessions().flatMap((s) => (s.identity.nodeId === "w1" ? [s.identity.serial] : []));
    await until("only the session on the renewed certificate", () => {
      const now = serials();
      return now.length === 1 && now[0] === renewed.serial;
    });

    cluster.revoked.add(first.serial);
    assert.equal(dropRevoked(broker, deps), 0, "the live session already uses the new serial");
    cluster.revoked.add(renewed.serial);
    assert.equal(dropRevoked(broker, deps), 1);
    await until("the revoked session gone and refused", () =>
      cluster.logged(`certificate ${renewed.serial} of w1 is revoked`),
    );
    assert.deepEqual(serials(), []);
  } finally {
    await session.stop();
    await broker.close();
  }
});
