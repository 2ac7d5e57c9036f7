// Bad input through the secure broker: a worker sends malformed CBOR on each of its own uplink
// topics (the ACL lets it: they are its topics), and the dispatcher, connected over mqtts with
// the manager's certificate as in the daemon, drops it; another worker registers and gets its
// assignment meanwhile. The dispatcher's own decoding cases are in dispatcher/bad-input.test.ts.

import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { Dispatcher } from "../dispatcher/dispatcher.ts";
import { MqttBus } from "../dispatcher/mqtt-bus.ts";
import { description } from "../dispatcher/testing.ts";
import { brokerSecurity, meshTls, type NodeTls } from "../secure.ts";
import { TestCluster } from "../secure-testing.ts";
import { Broker } from "./broker.ts";

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function agent(port: number, m: NodeTls, nodeId: string): Promise<MqttClient> {
  const c = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    ca: [m.caPem],
    cert: m.certPem,
    key: m.keyPem,
    servername: "fleet-manager",
    clientId: `fleet-agent-${nodeId}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  return new Promise((resolve, reject) => {
    c.once("connect", () => resolve(c));
    c.once("error", reject);
  });
}

test("malformed CBOR on every uplink topic costs only those messages", async () => {
  const cluster = new TestCluster("c1");
  const manager = cluster.issue("mgr1", "manager");
  const deps = cluster.deps(() => manager);
  const { tls, authorizer } = brokerSecurity(deps);
  const broker = await Broker.start({ id: "mgr1", tls, authorizer });
  const store = new Store();
  const bus = await MqttBus.connect({
    url: broker.url,
    clientId: "fleet-dispatcher-mgr1",
    mqtt: meshTls(deps)(),
  });
  const dropped: string[] = [];
  const logger = {
    info() {},
    warn: (msg: string) => void dropped.push(msg),
    error: (msg: string) => void dropped.push(msg),
  };
  const dispatcher = new Dispatcher({
    writer: new LocalWriter(store),
    bus,
    clusterId: "c1",
    managerId: "mgr1",
    logger,
  });
  await dispatcher.start();
  const bad = await agent(broker.port, cluster.issue("w1", "worker"), "w1");
  const good = await agent(broker.port, cluster.issue("w2", "worker"), "w2");
  try {
    const garbage = [
      Buffer.from([0xff, 0x00, 0x13, 0x37]),
      Buffer.from([0xbf]), // an indefinite map that never ends
      Buffer.from([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // a 2^64 array
      Buffer.alloc(0),
    ];
    for (const kind of ["hello", "hb", "status", "csr"]) {
      for (const g of garbage) await bad.publishAsync(`fleet/c1/n/w1/${kind}`, g, { qos: 1 });
    }
    const assigned = new Promise<Buffer>((resolve) =>
      good.on("message", (_t, payload) => resolve(payload)),
    );
    await good.subscribeAsync("fleet/c1/n/w2/assign", { qos: 1 });
    const hello = encodeMessage("hello", {
      nodeId: "w2",
      description: description("w2"),
      assignVersion: 0,
      agentVersion: "test",
    });
    await good.publishAsync("fleet/c1/n/w2/hello", Buffer.from(hello), { qos: 1 });
    const assign = decodeMessage(new Uint8Array(await assigned), "assign");
    assert.equal(assign.ok, true);
    const node = (id: string) => store.view((tx) => tx.get("nodes", id));
    await until("w2 registered", () => node("w2") !== undefined);
    assert.equal(node("w1"), undefined, "garbage registered nothing");
    assert.ok(dropped.length > 0, "the drops were logged");
    assert.ok(bad.connected, "the broker itself does not parse payloads: the session stays");
  } finally {
    await bad.endAsync(true).catch(() => undefined);
    await good.endAsync(true).catch(() => undefined);
    await dispatcher.stop();
    await bus.close();
    await broker.close();
  }
});
