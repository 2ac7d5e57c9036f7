// The broker mesh as one broker: exactly-once delivery across brokers, no loops, wildcards,
// retained state, peers coming and going, and the operator's mosquitto_sub.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, test } from "node:test";
import { topics } from "../../core/topics.ts";
import { need } from "../../test/support/real.ts";
import type { Message } from "./broker.ts";
import { meshUp, type Recorder, Scope, waitFor } from "./test-harness.ts";

const T = topics("c1");
const scope = new Scope();
after(() => scope.close());

/** Each client publishes a marker last; links are FIFO, so all markers mean all messages. */
async function drain(pubs: Recorder[], subs: Recorder[], tag: string): Promise<void> {
  for (const p of pubs) await p.client.publishAsync(`${T.root}/marker/${tag}`, "m", { qos: 1 });
  const want = pubs.length;
  await waitFor(
    () => subs.every((s) => s.got.filter((m) => m.topic.endsWith(`/marker/${tag}`)).length >= want),
    `markers ${tag}`,
  );
}

for (const qos of [0, 1] as const) {
  test(`QoS ${qos}: concurrent publishes reach every subscriber exactly once`, async () => {
    const nodes = await scope.cluster();
    const subs = await Promise.all(nodes.map((n) => scope.client(n.broker.url, `sub-${n.id}`)));
    for (const s of subs) await s.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
    const pubs = await Promise.all(nodes.map((n) => scope.client(n.broker.url, `pub-${n.id}`)));
    const perPublisher = 300;
    await Promise.all(
      pubs.map(async (p, i) => {
        const sends: Promise<unknown>[] = [];
        for (let k = 0; k < perPublisher; k++) {
          sends.push(p.client.publishAsync(T.heartbeat(`n${i}`), `${i}:${k}`, { qos }));
        }
        await Promise.all(sends);
      }),
    );
    await drain(pubs, subs, `q${qos}`);
    for (const s of subs) {
      const data = s.got.filter((m) => !m.topic.includes("/marker/"));
      const counts = new Map<string, number>();
      for (const m of data) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1);
      assert.equal(counts.size, perPublisher * nodes.length, "every message arrived");
      assert.ok(
        [...counts.values()].every((c) => c === 1),
        "no duplicates",
      );
    }
    // No loops: each broker sent exactly its own clients' messages to each peer, once.
    for (const n of nodes) {
      for (const l of n.mesh.stats().links)
        assert.equal(l.sent, perPublisher + 1, `${n.id}→${l.peer}`);
    }
  });
}

test("peers come and go: a removed peer's link closes, re-adding resumes", async () => {
  const [a, b] = await scope.cluster(["a", "b"]);
  const sub = await scope.client(b!.broker.url, "sub");
  await sub.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  a!.mesh.setPeers([{ id: "a", url: a!.broker.url }]);
  assert.equal(a!.mesh.stats().links.length, 0);
  await a!.broker.publish(T.event("node"), "unseen", { qos: 1 });
  a!.mesh.setPeers([{ id: "b", url: b!.broker.url }]);
  await waitFor(() => meshUp([a!, b!]), "link back");
  await a!.broker.publish(T.event("node"), "seen", { qos: 1 });
  await waitFor(() => sub.count(T.event("node"), "seen") === 1, "forwarding resumed");
  assert.equal(sub.count(T.event("node"), "unseen"), 0);
});

test("a client on B subscribed with + and # wildcards gets what is published on A", async () => {
  const [a, b] = await scope.cluster();
  const sub = await scope.client(b!.broker.url, "wild");
  await sub.client.subscribeAsync([`${T.root}/n/+/hb`, `${T.root}/events/#`], { qos: 1 });
  const local: Message[] = [];
  await b!.broker.subscribe(`${T.root}/n/+/status`, (m) => local.push(m));
  const pub = await scope.client(a!.broker.url, "n9");
  await pub.client.publishAsync(T.heartbeat("n9"), "hb", { qos: 0 });
  await pub.client.publishAsync(T.status("n9"), "st", { qos: 1 });
  await a!.broker.publish(T.event("node"), '{"up":"n9"}', { qos: 1 });
  await waitFor(
    () => sub.got.length === 2 && local.length === 1,
    "wildcard deliveries on the other broker",
  );
  assert.deepEqual(sub.got.map((m) => m.topic).sort(), [T.event("node"), T.heartbeat("n9")]);
  assert.equal(local[0]!.payload.toString(), "st");
});

test("retained: set on A, served on C; an empty payload clears it everywhere", async () => {
  const [a, b, c] = await scope.cluster();
  const pub = await scope.client(a!.broker.url, "agent");
  await pub.client.publishAsync(T.gossip("n1"), "g1", { qos: 1, retain: true });
  await a!.broker.publish(T.nodeState("n1"), '{"state":"ready"}', { qos: 0, retain: true });
  const everywhere = async (n: number) =>
    (await Promise.all([a, b, c].map((x) => x!.broker.retained()))).every((r) => r.length === n);
  await waitFor(() => everywhere(2), "retained on every broker");
  const late = await scope.client(c!.broker.url, "late");
  await late.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  await waitFor(() => late.got.length === 2, "retained served on C");
  assert.ok(late.got.every((m) => m.retain));
  await pub.client.publishAsync(T.gossip("n1"), "", { qos: 1, retain: true });
  await a!.broker.publish(T.nodeState("n1"), "", { retain: true });
  await waitFor(() => everywhere(0), "cleared on every broker");
  const later = await scope.client(b!.broker.url, "later");
  await later.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  await later.client.publishAsync(`${T.root}/marker/x`, "m", { qos: 1 });
  await waitFor(() => later.got.length === 1, "marker");
  assert.equal(later.got[0]!.topic, `${T.root}/marker/x`, "no retained left to serve");
});

test("concurrent retained writes converge to one value on every broker", async () => {
  const nodes = await scope.cluster();
  const topic = T.serviceState("s1");
  await Promise.all(
    nodes.map(async (n) => {
      for (let k = 0; k < 20; k++) await n.broker.publish(topic, `${n.id}${k}`, { retain: true });
    }),
  );
  const values = async () =>
    (await Promise.all(nodes.map((n) => n.broker.retained(topic)))).map((r) =>
      r[0]?.payload.toString(),
    );
  await waitFor(async () => {
    const v = await values();
    return v.every((x) => x !== undefined && x === v[0]);
  }, "one retained value everywhere");
});

test("operator story: mosquitto_sub on C receives JSON published on A", async (t) => {
  if (!need(t, "mosquitto")) return;
  const [a, , c] = await scope.cluster();
  const port = c!.broker.port;
  const sub = spawn(
    "mosquitto_sub",
    [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-i",
      "mosq-operator",
      "-t",
      `${T.root}/events/#`,
      "-C",
      "1",
      "-v",
      "-q",
      "1",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  sub.stdout.on("data", (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((r) => sub.once("exit", (code) => r(code)));
  scope.defer(async () => {
    if (sub.exitCode === null) sub.kill("SIGKILL");
  });
  await waitFor(
    () => c!.broker.sessions().some((s) => s.clientId.startsWith("mosq")),
    "mosquitto_sub connected",
  );
  // A subscription lands just after CONNACK; publish until mosquitto_sub has one message.
  const event = JSON.stringify({ kind: "node", node: "n1", state: "ready" });
  await waitFor(async () => {
    await a!.broker.publish(T.event("node"), event, { qos: 1 });
    return out.length > 0;
  }, "mosquitto_sub printed the event");
  assert.equal(await exited, 0);
  assert.equal(out.trim(), `${T.event("node")} ${event}`);
  assert.deepEqual(JSON.parse(out.trim().split(" ").slice(1).join(" ")), JSON.parse(event));
});
