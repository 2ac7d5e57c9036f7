// The mesh under faults: links cut with acks lost, a down peer's bounded queue, a broker
// stopped or SIGKILLed and restarted empty, resent and malformed envelopes from a peer.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, test } from "node:test";
import { limits } from "../../core/limits.ts";
import { topics } from "../../core/topics.ts";
import { freePort } from "../../test/support/real.ts";
import { Broker, MESH_CLIENT_PREFIX, MESH_USERNAME, type Message } from "./broker.ts";
import { encodeEnvelope } from "./envelope.ts";
import { Mesh, type MeshReport } from "./mesh.ts";
import {
  connect,
  cutProxy,
  meshUp,
  type Node,
  Scope,
  SECRET,
  startNode,
  stopNode,
  waitFor,
  wire,
} from "./test-harness.ts";

const T = topics("c1");
const scope = new Scope();
after(() => scope.close());

test("cutting a link mid-stream loses no QoS 1 message and duplicates none", async () => {
  const a = await startNode("a");
  const b = await startNode("b");
  scope.defer(
    () => stopNode(a),
    () => stopNode(b),
  );
  const proxy = await cutProxy(b.broker.port);
  scope.defer(() => proxy.close());
  a.mesh.setPeers([{ id: "b", url: proxy.url }]);
  b.mesh.setPeers([{ id: "a", url: a.broker.url }]);
  await waitFor(() => meshUp([a, b]), "links up");
  const sub = await scope.client(b.broker.url, "sub");
  await sub.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  const total = 3000;
  const publish = async (from: number, to: number) => {
    for (let k = from; k < to; k++) await a.broker.publish(T.status("n1"), String(k), { qos: 1 });
  };
  await publish(0, 1000);
  await waitFor(() => a.mesh.stats().links[0]!.inflight === 0, "first thousand acknowledged");
  // B keeps receiving but A hears no acks: A's whole inflight window is unacknowledged.
  proxy.holdReplies(true);
  await publish(1000, 2000);
  await waitFor(() => sub.got.length >= 1000 + limits.meshInflightMessagesMax, "B received");
  assert.ok(proxy.cut() >= 1, "the link was cut");
  proxy.holdReplies(false);
  await publish(2000, total);
  await waitFor(() => sub.got.length >= total, `${total} messages on B`, 30_000);
  await a.broker.publish(`${T.root}/marker/cut`, "m", { qos: 1 });
  await waitFor(() => sub.count(`${T.root}/marker/cut`) === 1, "marker");
  const seen = new Map<string, number>();
  for (const m of sub.got) seen.set(m.payload, (seen.get(m.payload) ?? 0) + 1);
  assert.equal(seen.size, total + 1);
  assert.ok(
    [...seen.values()].every((c) => c === 1),
    "no duplicates",
  );
  const link = a.mesh.stats().links[0]!;
  assert.ok(link.connects >= 2, "the link reconnected");
  assert.ok(link.resent >= limits.meshInflightMessagesMax, "the unacknowledged window was resent");
  assert.ok(b.mesh.stats().duplicatesDropped >= limits.meshInflightMessagesMax, "B dropped them");
});

test("a broker killed and restarted empty rejoins and gets the retained state", async () => {
  const nodes = await scope.cluster();
  const [a, b, c] = nodes as [Node, Node, Node];
  await a.broker.publish(T.assign("n1"), "v1", { qos: 1, retain: true });
  await c.broker.publish(T.nodeState("n2"), "ready", { retain: true });
  await waitFor(async () => (await b.broker.retained()).length === 2, "B has both");
  const port = b.broker.port;
  await stopNode(b);
  await waitFor(
    () => a.reports.some((r) => r.kind === "peer-down" && r.peer === "b"),
    "A sees B go",
  );
  // While B is down: QoS 1 is queued for it, QoS 0 is dropped and reported; a clear is queued.
  await a.broker.publish(T.event("task"), "queued", { qos: 1 });
  await a.broker.publish(T.heartbeat("n1"), "lost", { qos: 0 });
  await a.broker.publish(T.assign("n1"), "v2", { qos: 1, retain: true });
  assert.ok(a.reports.some((r) => r.kind === "dropped" && r.peer === "b"));

  const b2 = await startNode("b", port);
  scope.defer(() => stopNode(b2));
  const local: Message[] = [];
  await b2.broker.subscribe(`${T.root}/#`, (m) => local.push(m));
  const all = [a, b2, c];
  wire(all);
  await waitFor(() => meshUp(all), "B back in the mesh");
  await waitFor(async () => (await b2.broker.retained()).length === 2, "B caught up");
  const held = await b2.broker.retained();
  const byTopic = new Map(held.map((m) => [m.topic, m.payload.toString()]));
  assert.equal(byTopic.get(T.assign("n1")), "v2", "the newest value, not the synced stale one");
  assert.equal(byTopic.get(T.nodeState("n2")), "ready");
  await waitFor(() => local.some((m) => m.payload.toString() === "queued"), "queued QoS 1");
  assert.ok(!local.some((m) => m.payload.toString() === "lost"), "QoS 0 was dropped");
  assert.ok(a.reports.some((r) => r.kind === "peer-up" && r.message.includes("dropped")));
});

/** Runs a mesh broker in its own process; resolves once it is listening. */
async function spawnNode(id: string, port: number, peers: Node[]): Promise<ChildProcess> {
  const spec = { id, port, peers: peers.map((n) => ({ id: n.id, url: n.broker.url })) };
  const main = new URL("./test-node-main.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--import", "tsx", main, JSON.stringify(spec)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  scope.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let out = "";
  child.stdout!.on("data", (d) => {
    out += String(d);
  });
  await waitFor(() => out.includes("ready"), `broker ${id} process ready`, 30_000);
  return child;
}

/** The retained messages a fresh subscriber on this URL is served. */
async function servedRetained(url: string, id: string): Promise<Map<string, string>> {
  const r = await connect(url, { clientId: id });
  try {
    await r.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
    await r.client.publishAsync(`${T.root}/marker/${id}`, "m", { qos: 1 });
    await waitFor(() => r.count(`${T.root}/marker/${id}`) === 1, "marker back");
    return new Map(r.got.filter((m) => m.retain).map((m) => [m.topic, m.payload]));
  } finally {
    await r.close();
  }
}

test("a broker process SIGKILLed and restarted gets the current retained state", async () => {
  const a = await startNode("a");
  const c = await startNode("c");
  scope.defer(
    () => stopNode(a),
    () => stopNode(c),
  );
  const port = await freePort();
  const bUrl = `mqtt://127.0.0.1:${port}`;
  const peers = [
    { id: "a", url: a.broker.url },
    { id: "b", url: bUrl },
    { id: "c", url: c.broker.url },
  ];
  a.mesh.setPeers(peers);
  c.mesh.setPeers(peers);
  let b = await spawnNode("b", port, [a, c]);
  const linked = () => [a, c].every((n) => n.mesh.stats().links.every((l) => l.connected));
  await waitFor(linked, "A and C linked to B");
  await a.broker.publish(T.assign("n1"), "v1", { qos: 1, retain: true });
  await c.broker.publish(T.gossip("n2"), "g", { qos: 1, retain: true });
  await waitFor(async () => (await servedRetained(bUrl, "probe1")).size === 2, "B serves both");

  const exited = new Promise((r) => b.once("exit", r));
  b.kill("SIGKILL");
  await exited;
  await a.broker.publish(T.assign("n1"), "v2", { qos: 1, retain: true });
  await c.broker.publish(T.gossip("n2"), "", { qos: 1, retain: true });
  b = await spawnNode("b", port, [a, c]);
  await waitFor(async () => {
    const held = await servedRetained(bUrl, `probe-${Date.now()}`);
    return held.size === 1 && held.get(T.assign("n1")) === "v2";
  }, "restarted B serves exactly the current retained state");
});

test("a down peer's queue is bounded: QoS 1 past the bound is dropped and reported", async () => {
  const broker = await Broker.start({ id: "a", meshSecret: SECRET });
  const reports: MeshReport[] = [];
  const mesh = new Mesh({
    broker,
    secret: SECRET,
    queueMessagesMax: 10,
    report: (r) => reports.push(r),
  });
  const a: Node = { id: "a", broker, mesh, reports };
  scope.defer(() => stopNode(a));
  const port = await freePort();
  a.mesh.setPeers([{ id: "b", url: `mqtt://127.0.0.1:${port}` }]);
  for (let k = 0; k < 25; k++) await a.broker.publish(T.event("task"), String(k), { qos: 1 });
  const link = a.mesh.stats().links[0]!;
  assert.deepEqual([link.queued, link.dropped], [10, 15]);
  assert.ok(reports.some((r) => r.kind === "dropped" && r.message.includes("queue full")));

  const b = await startNode("b", port);
  scope.defer(() => stopNode(b));
  const local: Message[] = [];
  await b.broker.subscribe(`${T.root}/#`, (m) => local.push(m));
  b.mesh.setPeers([{ id: "a", url: a.broker.url }]);
  await waitFor(() => local.length === 10, "the ten queued messages");
  assert.deepEqual(
    local.map((m) => m.payload.toString()),
    Array.from({ length: 10 }, (_, k) => String(k)),
    "the oldest ten, in order",
  );
  assert.ok(reports.some((r) => r.kind === "peer-up" && r.message.includes("15 messages")));
});

test("resent envelopes are delivered once; a malformed one cuts the link", async () => {
  const [a] = await scope.cluster(["a"]);
  const sub = await scope.client(a!.broker.url, "sub");
  await sub.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  const peer = await connect(a!.broker.url, {
    clientId: `${MESH_CLIENT_PREFIX}z`,
    username: MESH_USERNAME,
    password: SECRET,
  });
  scope.defer(() => peer.close());
  const env = (seq: number, text: string) =>
    encodeEnvelope({ epoch: 7, seq, sync: false, version: undefined, payload: Buffer.from(text) });
  await peer.client.publishAsync(T.status("n1"), env(1, "one"), { qos: 1 });
  await peer.client.publishAsync(T.status("n1"), env(1, "one"), { qos: 1, dup: true });
  await peer.client.publishAsync(T.status("n1"), env(2, "two"), { qos: 1 });
  await waitFor(() => sub.got.length === 2, "two distinct messages");
  assert.deepEqual(
    sub.got.map((m) => m.payload),
    ["one", "two"],
  );
  assert.equal(a!.mesh.stats().duplicatesDropped, 1);
  const cut = new Promise<void>((r) => peer.client.once("close", () => r()));
  peer.client.publish(T.status("n1"), Buffer.from("no envelope"), { qos: 1 });
  await cut;
  await a!.broker.publish(`${T.root}/marker/end`, "m", { qos: 1 });
  await waitFor(() => sub.got.length === 3, "marker");
  assert.equal(sub.got[2]!.topic, `${T.root}/marker/end`);
  assert.equal(a!.mesh.stats().badEnvelopes, 1);
});
