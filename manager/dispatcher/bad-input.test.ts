// Bad input from a device costs only that message: counted by reason, logged (rate-limited),
// dropped. The dispatcher keeps serving everyone else.

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeCbor } from "../../core/codec/cbor.ts";
import { encodeMessage } from "../../core/codec/index.ts";
import { limits } from "../../core/limits.ts";
import type { Logger } from "./log.ts";
import { description, harness } from "./testing.ts";

function recordingLogger() {
  const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = {
    info() {},
    warn: (msg, fields) => lines.push({ msg, fields }),
    error: (msg, fields) => lines.push({ msg, fields }),
  };
  return { lines, log };
}

test("garbage, wrong types, mismatched ids, oversized and stray topics are dropped", async () => {
  const { lines, log } = recordingLogger();
  const h = harness({ logger: log });
  await h.dispatcher.start();
  const t = h.topics;
  await h.send(t.hello("n1"), new Uint8Array([0xff, 0x00, 0x13, 0x37]));
  await h.send(t.hello("n1"), encodeMessage("heartbeat", { seq: 1 }));
  await h.send(t.hello("n1"), encodeCbor({ v: 1, type: "hello", nodeId: "n1" }));
  await h.send(t.hello("n1"), encodeCbor({ v: 99, type: "hello" }));
  await h.send(
    t.hello("n1"),
    encodeMessage("hello", {
      nodeId: "someone-else",
      description: description("x"),
      assignVersion: 0,
      agentVersion: "x",
    }),
  );
  await h.send(t.heartbeat("n1"), new Uint8Array(limits.uplinkBytesMax + 1));
  await h.send(t.heartbeat("ghost"), encodeMessage("heartbeat", { seq: 1 }));
  await h.send("fleet/other-cluster/n/n1/hb", encodeMessage("heartbeat", { seq: 1 }));
  await h.send(t.status("n1"), '{"json": true}');
  const d = h.dispatcher.stats().dropped;
  assert.equal(d.malformed, 5);
  assert.equal(d.node_mismatch, 1);
  assert.equal(d.oversized, 1);
  assert.equal(d.unknown_node, 1);
  assert.equal(d.handler_error, 0);
  // The subscription is per cluster, so the stray topic never reached the dispatcher.
  assert.equal(d.bad_topic, 0);
  h.dispatcher.handle("fleet/c1/n/bad id/hb", new Uint8Array(1));
  h.dispatcher.handle("fleet/c1/n/n1/unknown-kind", new Uint8Array(1));
  assert.equal(h.dispatcher.stats().dropped.bad_topic, 2);
  // Nothing was created, and a good hello still works.
  assert.equal(h.store.view((tx) => tx.find("nodes")).length, 0);
  await h.hello("n1");
  await h.clock.advance(100);
  assert.equal(h.store.view((tx) => tx.get("nodes", "n1"))?.status.state, "ready");
  // Logged once per reason, not once per message.
  const reasons = lines.map((l) => l.fields?.reason);
  assert.equal(reasons.filter((r) => r === "malformed").length, 1);
  assert.ok(lines.every((l) => l.msg.startsWith("dropped device input")));
  await h.dispatcher.stop();
});

test("a flood of bad input is counted, and logs stay rate-limited", async () => {
  const { lines, log } = recordingLogger();
  const h = harness({ logger: log });
  await h.dispatcher.start();
  for (let i = 0; i < 1000; i++)
    h.dispatcher.handle(h.topics.hello("n1"), new Uint8Array([i & 0xff]));
  assert.equal(h.dispatcher.stats().dropped.malformed, 1000);
  assert.equal(lines.length, 1);
  await h.clock.advance(limits.dropLogIntervalMs);
  h.dispatcher.handle(h.topics.hello("n1"), new Uint8Array([1]));
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.fields?.suppressed, 999);
  await h.dispatcher.stop();
});

test("unknown nodes are refused when registration is closed", async () => {
  const h = harness();
  const { Dispatcher } = await import("./dispatcher.ts");
  const { silentLogger } = await import("./log.ts");
  const closed = new Dispatcher({
    writer: h.writer,
    bus: h.broker.client(),
    clusterId: "c1",
    clock: h.clock,
    logger: silentLogger,
    registerUnknownNodes: false,
  });
  await closed.start();
  await h.hello("stranger");
  await h.clock.advance(100);
  assert.equal(
    h.store.view((tx) => tx.get("nodes", "stranger")),
    undefined,
  );
  assert.equal(closed.stats().dropped.unknown_node, 1);
  await closed.stop();
});

test("topic levels that look like object keys are refused as bad topics", async () => {
  const h = harness();
  await h.dispatcher.start();
  for (const kind of ["constructor", "toString", "__proto__", "csr"]) {
    h.dispatcher.handle(`fleet/c1/n/n1/${kind}`, new Uint8Array([1]));
  }
  assert.equal(h.dispatcher.stats().dropped.bad_topic, 4);
  assert.equal(h.dispatcher.stats().dropped.handler_error, 0);
  await h.dispatcher.stop();
});

test("start fails cleanly when the broker refuses a subscription", async () => {
  const h = harness();
  const { Dispatcher } = await import("./dispatcher.ts");
  const { silentLogger } = await import("./log.ts");
  const bus = h.broker.client();
  bus.subscribe = async () => {
    throw new Error("bus: broker refused the subscription");
  };
  const d = new Dispatcher({
    writer: h.writer,
    bus,
    clusterId: "c1",
    clock: h.clock,
    logger: silentLogger,
  });
  await assert.rejects(d.start(), /refused/);
  assert.equal(d.stats().running, false);
  assert.equal(h.clock.pending, 0, "no timer left behind");
});
