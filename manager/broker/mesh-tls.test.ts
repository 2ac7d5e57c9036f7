// The broker mesh in secure mode: links between managers' brokers are mqtts with manager
// certificates (no shared secret); a message published on one broker reaches a worker on the
// other; a revoked manager's link is dropped and refused.

import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { brokerSecurity, dropRevoked, meshTls } from "../secure.ts";
import { TestCluster } from "../secure-testing.ts";
import { Broker } from "./broker.ts";
import { Mesh } from "./mesh.ts";

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("mesh links are mutual TLS with manager certificates", async () => {
  const cluster = new TestCluster("c1");
  const ids = ["mgrA", "mgrB"];
  const nodes = await Promise.all(
    ids.map(async (id) => {
      const material = cluster.issue(id, "manager");
      const deps = cluster.deps(() => material);
      const { tls, authorizer } = brokerSecurity(deps);
      const broker = await Broker.start({ id, tls, authorizer });
      const mesh = new Mesh({ broker, selfId: id, tls: meshTls(deps), random: () => 0 });
      return { id, material, deps, broker, mesh };
    }),
  );
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const peers = nodes.map((n) => ({ id: n.id, url: `mqtt://127.0.0.1:${n.broker.port}` }));
  for (const n of nodes) n.mesh.setPeers(peers);
  const worker = cluster.issue("w1", "worker");
  const client = mqtt.connect(`mqtts://127.0.0.1:${b.broker.port}`, {
    ca: [worker.caPem],
    cert: worker.certPem,
    key: worker.keyPem,
    servername: "fleet-manager",
    clientId: "fleet-agent-w1",
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  try {
    await until("both links up", () =>
      nodes.every((n) => n.mesh.stats().links.every((l) => l.connected)),
    );
    // The client may have connected while the links came up: don't wait for a past event.
    if (!client.connected)
      await new Promise<void>((resolve, reject) => {
        client.once("connect", () => resolve());
        client.once("error", reject);
      });
    await client.subscribeAsync("fleet/c1/n/w1/assign", { qos: 1 });
    const got = new Promise<string>((resolve) =>
      client.on("message", (_t, p) => resolve(String(p))),
    );
    await a.broker.publish("fleet/c1/n/w1/assign", "from A", { qos: 1 });
    assert.equal(await got, "from A");
    assert.ok(!cluster.logged("mesh link refused"));

    // B's certificate is revoked: A drops B's live link and refuses it from then on.
    cluster.revoked.add(b.material.serial);
    assert.equal(dropRevoked(a.broker, a.deps), 1);
    await until("B's link into A down", () => !b.mesh.stats().links[0]!.connected);
    await until("a reconnect refused", () => cluster.logged("mesh link refused"));
    assert.equal(b.mesh.stats().links[0]!.connected, false);
  } finally {
    await client.endAsync(true).catch(() => undefined);
    for (const n of nodes) {
      await n.mesh.close();
      await n.broker.close();
    }
  }
});
