import assert from "node:assert/strict";
import { Socket } from "node:net";
import { after, test } from "node:test";
import { topicMatches, topics } from "../../core/topics.ts";
import type { Authorizer } from "./authorizer.ts";
import { Broker, type BrokerReport, MESH_CLIENT_PREFIX, type Message } from "./broker.ts";
import { connect, type Recorder, subscribeCodes, waitFor } from "./test-harness.ts";

const T = topics("c1");
const open: { close(): Promise<void> }[] = [];
after(async () => {
  for (const o of open.reverse()) await o.close();
});

async function start(opts: Parameters<typeof Broker.start>[0] = {}): Promise<Broker> {
  const b = await Broker.start(opts);
  open.push(b);
  return b;
}

async function client(url: string, opts: Parameters<typeof connect>[1] = {}): Promise<Recorder> {
  const c = await connect(url, opts);
  open.push(c);
  return c;
}

test("the manager publishes and subscribes in-process, alongside socket clients", async () => {
  const b = await start();
  const local: Message[] = [];
  const unsubscribe = await b.subscribe(`${T.root}/n/+/hb`, (m) => local.push(m));
  const c = await client(b.url, { clientId: "n1" });
  await c.client.subscribeAsync(T.assign("n1"), { qos: 1 });
  await c.client.publishAsync(T.heartbeat("n1"), "beat", { qos: 0 });
  await b.publish(T.assign("n1"), "tasks", { qos: 1, retain: true });
  await waitFor(() => local.length === 1 && c.count(T.assign("n1"), "tasks") === 1, "deliveries");
  assert.equal(local[0]!.payload.toString(), "beat");
  assert.deepEqual(
    (await b.retained()).map((m) => [m.topic, m.payload.toString()]),
    [[T.assign("n1"), "tasks"]],
  );
  await unsubscribe();
  await c.client.publishAsync(T.heartbeat("n1"), "beat2", { qos: 1 });
  await c.client.publishAsync(T.heartbeat("n2"), "marker", { qos: 1 });
  assert.equal(local.length, 1, "nothing after unsubscribe");
  await assert.rejects(b.publish("a/+", "x"), /wildcard/);
  await assert.rejects(
    b.subscribe("$fleet/sink", () => undefined),
    /reserved/,
  );
});

test("session callbacks see node sessions open and close", async () => {
  const opened: string[] = [];
  const closed: string[] = [];
  const b = await start({
    onSessionOpen: (s) => opened.push(s.clientId),
    onSessionClose: (s) => closed.push(s.clientId),
  });
  const c = await client(b.url, { clientId: "node-7" });
  await waitFor(() => opened.includes("node-7"), "open callback");
  assert.deepEqual(
    b.sessions().map((s) => [s.clientId, s.mesh]),
    [["node-7", false]],
  );
  await c.close();
  await waitFor(() => closed.includes("node-7"), "close callback");
  assert.equal(b.sessions().length, 0);
});

/** A sample policy in the shape the security work will fill: node n may use only its topics. */
const nodePolicy: Authorizer = {
  authenticate: (info) =>
    info.username === "observer"
      ? { principal: "observer", role: "operator" }
      : info.username === "node" && info.password?.toString() === "pw"
        ? { principal: info.clientId, role: "node" }
        : undefined,
  mayPublish: (id, _c, topic) =>
    id.role === "operator" || topicMatches(`${T.root}/n/${id.principal}/+`, topic),
  maySubscribe: (id, _c, filter) =>
    id.role === "operator" || filter === T.assign(id.principal) || filter === T.gossipFilter,
};

test("sample policy: a refused publish reaches no one; a refused subscribe gets 0x80", async () => {
  const reports: BrokerReport[] = [];
  const b = await start({ authorizer: nodePolicy, report: (r) => reports.push(r) });
  await assert.rejects(connect(b.url, { username: "node", password: "wrong" }));
  const observer = await client(b.url, { clientId: "obs", username: "observer" });
  await observer.client.subscribeAsync("#", { qos: 1 });
  const local: Message[] = [];
  await b.subscribe("#", (m) => local.push(m));

  const n1 = await client(b.url, { clientId: "n1", username: "node", password: "pw" });
  assert.deepEqual(await subscribeCodes(n1.client, [T.assign("n1"), T.assign("n2")]), [1, 128]);
  await n1.client.publishAsync(T.heartbeat("n1"), "mine", { qos: 1 });
  const closedN1 = new Promise<void>((r) => n1.client.once("close", () => r()));
  n1.client.publish(T.heartbeat("n2"), "forged", { qos: 1 });
  await closedN1;
  await b.publish(`${T.root}/marker`, "end", { qos: 1 });
  await waitFor(() => observer.count(`${T.root}/marker`) === 1, "marker reaches the observer");
  assert.equal(observer.count(T.heartbeat("n1"), "mine"), 1);
  assert.equal(observer.got.filter((m) => m.payload === "forged").length, 0);
  assert.equal(local.filter((m) => m.payload.toString() === "forged").length, 0);
  assert.ok(reports.some((r) => r.kind === "publish-refused" && r.clientId === "n1"));
  assert.ok(reports.some((r) => r.kind === "subscribe-refused"));
  assert.ok(reports.some((r) => r.kind === "auth-refused"));
});

test("mesh credentials: wrong secret and borrowed mesh client ids are refused", async () => {
  const b = await start({ meshSecret: "s3cret" });
  await assert.rejects(
    connect(b.url, { clientId: `${MESH_CLIENT_PREFIX}x`, username: "fleet-mesh", password: "no" }),
  );
  await assert.rejects(connect(b.url, { clientId: `${MESH_CLIENT_PREFIX}x` }));
  const ok = await client(b.url, {
    clientId: `${MESH_CLIENT_PREFIX}x`,
    username: "fleet-mesh",
    password: "s3cret",
  });
  assert.deepEqual(await subscribeCodes(ok.client, ["#"]), [128], "mesh links may not subscribe");
});

function rawSend(port: number, bytes: Buffer): Promise<"closed"> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("broker kept a bad connection open"));
    }, 10_000);
    s.on("error", () => undefined);
    s.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
    s.connect(port, "127.0.0.1", () => s.write(bytes));
  });
}

test("oversized, malformed and garbage packets cost only their connection", async () => {
  const reports: BrokerReport[] = [];
  const b = await start({ packetBytesMax: 64 * 1024, report: (r) => reports.push(r) });
  const watcher = await client(b.url, { clientId: "watcher" });
  await watcher.client.subscribeAsync("t/#", { qos: 1 });
  // PUBLISH announcing 200,000 bytes of body: cut at the header, before any body arrives.
  const oversized = Buffer.from([0x30, 0xc0, 0x9a, 0x0c]);
  // A remaining length with a fifth continuation byte [MQTT-2.2.3].
  const malformed = Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]);
  // Packet type 0 is reserved: aedes' parser refuses it.
  const garbage = Buffer.from([0x00, 0x02, 0xde, 0xad]);
  assert.equal(await rawSend(b.port, oversized), "closed");
  assert.equal(await rawSend(b.port, malformed), "closed");
  assert.equal(await rawSend(b.port, garbage), "closed");
  assert.ok(reports.some((r) => r.kind === "packet-refused" && r.message.includes("oversized")));
  assert.ok(reports.some((r) => r.message.includes("malformed-length")));
  await watcher.client.publishAsync("t/still", "alive", { qos: 1 });
  await waitFor(() => watcher.count("t/still", "alive") === 1, "broker still serves");
  const big = Buffer.alloc(100 * 1024, 1);
  const sender = await client(b.url, { clientId: "big" });
  const cut = new Promise<void>((r) => sender.client.once("close", () => r()));
  sender.client.publish("t/big", big, { qos: 0 });
  await cut;
  assert.equal(watcher.count("t/big"), 0);
});

test("connections past the bound are refused at accept", async () => {
  const reports: BrokerReport[] = [];
  const b = await start({ connectionsMax: 2, report: (r) => reports.push(r) });
  await client(b.url, { clientId: "a" });
  await client(b.url, { clientId: "b" });
  await assert.rejects(connect(b.url, { clientId: "c", connectTimeout: 2000 }));
  assert.ok(reports.some((r) => r.kind === "connection-refused"));
});

test("close stops the listener and disconnects clients", async () => {
  const b = await Broker.start();
  const c = await connect(b.url, { clientId: "x" });
  const port = b.port;
  const gone = new Promise<void>((r) => c.client.once("close", () => r()));
  await b.close();
  await gone;
  await c.close();
  await assert.rejects(connect(`mqtt://127.0.0.1:${port}`, { connectTimeout: 2000 }));
  await b.close();
});

test("plain TCP binds loopback only unless explicitly allowed for development", async () => {
  await assert.rejects(Broker.start({ host: "0.0.0.0" }), /loopback only/);
  const b = await start({ host: "0.0.0.0", plainTcpOffLoopback: true });
  const c = await client(b.url, { clientId: "anywhere" });
  assert.ok(c.client.connected);
});
