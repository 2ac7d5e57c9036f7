import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, test } from "node:test";
import { limits } from "../../core/limits.ts";
import { topics } from "../../core/topics.ts";
import { freePort, need } from "../../test/support/real.ts";
import { Broker, MESH_CLIENT_PREFIX, MESH_USERNAME, type Message } from "./broker.ts";
import { encodeEnvelope } from "./envelope.ts";
import { Mesh, type MeshReport } from "./mesh.ts";
import {
  connect,
  cutProxy,
  meshUp,
  type Node,
  type Recorder,
  SECRET,
  startNode,
  stopNode,
  waitFor,
  wire,
} from "./test-harness.ts";

const T = topics("c1");
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function cluster(ids = ["a", "b", "c"]): Promise<Node[]> {
  const nodes: Node[] = [];
  for (const id of ids) {
    const n = await startNode(id);
    nodes.push(n);
    cleanup.push(() => stopNode(n));
  }
  wire(nodes);
  await waitFor(() => meshUp(nodes), "every link up");
  return nodes;
}

async function client(url: string, clientId: string): Promise<Recorder> {
  const r = await connect(url, { clientId });
  cleanup.push(() => r.close());
  return r;
}

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
  test(`QoS ${qos}: concurrent publishes on every broker reach every subscriber exactly once`, async () => {
    const nodes = await cluster();
    const subs = await Promise.all(nodes.map((n) => client(n.broker.url, `sub-${n.id}`)));
    for (const s of subs) await s.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
    const pubs = await Promise.all(nodes.map((n) => client(n.broker.url, `pub-${n.id}`)));
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

test("cutting a link mid-stream loses no QoS 1 message and duplicates none", async () => {
  const a = await startNode("a");
  const b = await startNode("b");
  cleanup.push(
    () => stopNode(a),
    () => stopNode(b),
  );
  const proxy = await cutProxy(b.broker.port);
  cleanup.push(() => proxy.close());
  a.mesh.setPeers([{ id: "b", url: proxy.url }]);
  b.mesh.setPeers([{ id: "a", url: a.broker.url }]);
  await waitFor(() => meshUp([a, b]), "links up");
  const sub = await client(b.broker.url, "sub");
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

test("peers come and go: removing a peer closes its link, adding it back resumes forwarding", async () => {
  const [a, b] = await cluster(["a", "b"]);
  const sub = await client(b!.broker.url, "sub");
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
  const [a, b] = await cluster();
  const sub = await client(b!.broker.url, "wild");
  await sub.client.subscribeAsync([`${T.root}/n/+/hb`, `${T.root}/events/#`], { qos: 1 });
  const local: Message[] = [];
  await b!.broker.subscribe(`${T.root}/n/+/status`, (m) => local.push(m));
  const pub = await client(a!.broker.url, "n9");
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

test("retained: set on A is served to a new subscriber on C; an empty payload clears it everywhere", async () => {
  const [a, b, c] = await cluster();
  const pub = await client(a!.broker.url, "agent");
  await pub.client.publishAsync(T.gossip("n1"), "g1", { qos: 1, retain: true });
  await a!.broker.publish(T.nodeState("n1"), '{"state":"ready"}', { qos: 0, retain: true });
  const everywhere = async (n: number) =>
    (await Promise.all([a, b, c].map((x) => x!.broker.retained()))).every((r) => r.length === n);
  await waitFor(() => everywhere(2), "retained on every broker");
  const late = await client(c!.broker.url, "late");
  await late.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  await waitFor(() => late.got.length === 2, "retained served on C");
  assert.ok(late.got.every((m) => m.retain));
  await pub.client.publishAsync(T.gossip("n1"), "", { qos: 1, retain: true });
  await a!.broker.publish(T.nodeState("n1"), "", { retain: true });
  await waitFor(() => everywhere(0), "cleared on every broker");
  const later = await client(b!.broker.url, "later");
  await later.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  await later.client.publishAsync(`${T.root}/marker/x`, "m", { qos: 1 });
  await waitFor(() => later.got.length === 1, "marker");
  assert.equal(later.got[0]!.topic, `${T.root}/marker/x`, "no retained left to serve");
});

test("concurrent retained writes to one topic converge to the same value on every broker", async () => {
  const nodes = await cluster();
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

test("a broker killed and restarted empty rejoins and gets the retained state", async () => {
  const nodes = await cluster();
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
  cleanup.push(() => stopNode(b2));
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
  cleanup.push(async () => {
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

test("a broker process SIGKILLed and restarted on its port rejoins and gets the retained state", async () => {
  const a = await startNode("a");
  const c = await startNode("c");
  cleanup.push(
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
  cleanup.push(() => stopNode(a));
  const port = await freePort();
  a.mesh.setPeers([{ id: "b", url: `mqtt://127.0.0.1:${port}` }]);
  for (let k = 0; k < 25; k++) await a.broker.publish(T.event("task"), String(k), { qos: 1 });
  const link = a.mesh.stats().links[0]!;
  assert.deepEqual([link.queued, link.dropped], [10, 15]);
  assert.ok(reports.some((r) => r.kind === "dropped" && r.message.includes("queue full")));

  const b = await startNode("b", port);
  cleanup.push(() => stopNode(b));
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

test("a resent mesh message is delivered once; a malformed one cuts the link, reaches no one", async () => {
  const [a] = await cluster(["a"]);
  const sub = await client(a!.broker.url, "sub");
  await sub.client.subscribeAsync(`${T.root}/#`, { qos: 1 });
  const peer = await connect(a!.broker.url, {
    clientId: `${MESH_CLIENT_PREFIX}z`,
    username: MESH_USERNAME,
    password: SECRET,
  });
  cleanup.push(() => peer.close());
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

test("operator story: a real mosquitto_sub on broker C receives JSON published on broker A", async (t) => {
  if (!need(t, "mosquitto")) return;
  const [a, , c] = await cluster();
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
  cleanup.push(async () => {
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
