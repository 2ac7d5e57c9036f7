// Transport tests on 127.0.0.1 with ephemeral ports: delivery, reconnect, bounded queues, and
// hostile bytes that cost only their own connection.
import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { Transport, type TransportOptions } from "./transport.ts";
import { encodeFrame } from "./transport-frame.ts";
import { backoffDelayMs } from "./transport-peer.ts";

const local = { host: "127.0.0.1", port: 0 };
const started: Transport[] = [];
const servers: net.Server[] = [];
after(async () => {
  for (const t of started) await t.close().catch(() => {});
  for (const s of servers) s.close();
});

interface Node {
  t: Transport;
  got: { from: number; msg: unknown }[];
  unreachable: string[];
  logs: string[];
}

async function node(id: number, extra: Partial<TransportOptions> = {}): Promise<Node> {
  const n: Node = { t: undefined as unknown as Transport, got: [], unreachable: [], logs: [] };
  n.t = await Transport.start({
    id,
    listen: local,
    onMessage: (from, msg) => n.got.push({ from, msg }),
    onUnreachable: (peer, reason) => n.unreachable.push(`${peer}: ${reason}`),
    log: (l) => n.logs.push(l),
    backoffBaseMs: 5,
    backoffMaxMs: 40,
    ...extra,
  });
  started.push(n.t);
  return n;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.on("error", reject);
  });
}

function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => (s.destroyed ? resolve() : s.on("close", () => resolve())));
}

function frame(payload: Uint8Array, announced = payload.length): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  b.writeUInt32BE(announced, 0);
  b.set(payload, 4);
  return b;
}

test("backoff grows, is capped, and is jittered by the injected source", () => {
  assert.equal(
    backoffDelayMs(0, 50, 2000, () => 0),
    25,
  );
  assert.equal(backoffDelayMs(0, 50, 2000, () => 0.999999) < 50, true);
  assert.equal(
    backoffDelayMs(3, 50, 2000, () => 0),
    200,
  );
  assert.equal(
    backoffDelayMs(40, 50, 2000, () => 1),
    2000,
  );
});

test("messages arrive in order, both ways, with the sender's id", async () => {
  const a = await node(1);
  const b = await node(2);
  a.t.addPeer(2, b.t.address);
  b.t.addPeer(1, a.t.address);
  for (let i = 0; i < 200; i++) a.t.send(2, { type: "app", index: i, data: new Uint8Array([i]) });
  b.t.send(1, { type: "appResp", index: 199 });
  await waitFor("200 messages at b", () => b.got.length === 200);
  await waitFor("reply at a", () => a.got.length === 1);
  assert.deepEqual(
    b.got.map((g) => (g.msg as { index: number }).index),
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.ok(b.got.every((g) => g.from === 1));
  assert.deepEqual(a.got[0], { from: 2, msg: { type: "appResp", index: 199 } });
  assert.deepEqual([...(b.got[7]!.msg as { data: Uint8Array }).data], [7]);
});

test("the sender reconnects after the listener restarts on the same port", async () => {
  const a = await node(1);
  let b = await node(2);
  const port = b.t.address.port;
  a.t.addPeer(2, b.t.address);
  a.t.send(2, "before");
  await waitFor("first delivery", () => b.got.length === 1);
  await b.t.close();
  await waitFor("a notices", () => a.unreachable.length > 0);
  b = await node(2, { listen: { host: "127.0.0.1", port } });
  await waitFor("delivery after restart", () => {
    a.t.send(2, "after");
    return b.got.length > 0;
  });
  assert.equal(b.got[0]!.msg, "after");
  assert.ok(a.t.peerStatus(2)!.connects >= 2);
  assert.match(a.logs.join("\n"), /retrying in \d+ ms/);
});

test("a restarted peer that dials us is redialed at once, not after the backoff", async () => {
  // Backoff of 30-60 s: only the peer's own hello can bring the connection back in time.
  const slow = { backoffBaseMs: 60_000, backoffMaxMs: 60_000 };
  const a = await node(1, slow);
  let b = await node(2);
  const port = b.t.address.port;
  a.t.addPeer(2, b.t.address);
  a.t.send(2, "before");
  await waitFor("first delivery", () => b.got.length === 1);
  await b.t.close();
  await waitFor("a backs off", () => a.logs.some((l) => /retrying in \d+ ms/.test(l)));
  assert.equal(a.t.send(2, "while down"), false);
  b = await node(2, { listen: { host: "127.0.0.1", port } });
  b.t.addPeer(1, a.t.address); // the restarted member dials its peers: a sees its hello
  await waitFor("delivery after the peer's hello", () => {
    a.t.send(2, "after");
    return b.got.length > 0;
  });
  assert.equal(b.got[0]!.msg, "after");
});

test("a peer that never reads costs a bounded queue and drops, never a blocked send", async () => {
  const stuck: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.pause(); // accepts, never reads
    stuck.push(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const a = await node(1, { queueMessagesMax: 8, writeStallMs: 100 });
  a.t.addPeer(9, { host: "127.0.0.1", port });
  await waitFor("connected", () => a.t.peerStatus(9)!.connected);
  const big = new Uint8Array(256 * 1024);
  let accepted = 0;
  const t0 = performance.now();
  for (let i = 0; i < 400; i++) if (a.t.send(9, { big })) accepted++;
  const ms = performance.now() - t0;
  assert.ok(accepted < 400, `some of 400 x 256 KiB were dropped (accepted ${accepted})`);
  assert.ok(a.unreachable.some((u) => /queue to peer 9 is full/.test(u)));
  assert.equal(a.t.peerStatus(9)!.dropped, 400 - accepted);
  console.log(`400 sends to a stuck peer took ${ms.toFixed(1)} ms, ${accepted} queued/sent`);
  // No write progress for writeStallMs: the connection is taken for dead and redialed.
  await waitFor("stall noticed", () => a.unreachable.some((u) => /no write progress/.test(u)));
  await waitFor("redialed", () => stuck.length >= 2);
  for (const s of stuck) s.destroy();
});

test("a dead peer is reported unreachable and sends to it are dropped at once", async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r())); // nobody listens there now
  const a = await node(1);
  a.t.addPeer(3, { host: "127.0.0.1", port });
  await waitFor("connect refused", () => a.unreachable.some((u) => /ECONNREFUSED/.test(u)));
  for (let i = 0; i < 1000; i++) a.t.send(3, { i });
  assert.ok(a.t.peerStatus(3)!.dropped > 0);
  assert.equal(a.t.send(77, "nobody"), false, "unknown peer");
});

test("oversized, empty and garbage frames close only that connection", async () => {
  const a = await node(1);
  const b = await node(2, { frameBytesMax: 1024 });
  a.t.addPeer(2, b.t.address);
  const port = b.t.address.port;
  const hello = frame(new Uint8Array([0xa2, 0x61, 0x76, 0x01, 0x64, 0x66, 0x72, 0x6f, 0x6d, 0x05]));
  const attacks: [string, Buffer[]][] = [
    ["frame_too_large", [frame(new Uint8Array(8), 10_000_000)]],
    ["empty_frame", [frame(new Uint8Array(0))]],
    ["malformed_frame", [frame(new Uint8Array([0xff, 0xfe, 0x00]))]],
    ["bad_hello", [frame(new Uint8Array([0x01]))]],
    ["wrong_node", [hello]], // {v: 1, from: 5}: no `to`
  ];
  for (const [code, bytes] of attacks) {
    const s = await rawSocket(port);
    for (const b0 of bytes) s.write(b0);
    await closed(s);
    assert.match(b.logs.at(-1) ?? "", new RegExp(`\\[${code}\\]$`));
    a.t.send(2, { still: "served" });
  }
  await waitFor("a's messages still arrive", () => b.got.length === attacks.length);
  assert.ok(b.got.every((g) => g.from === 1));
});

test("a hello meant for another node is refused", async () => {
  const a = await node(1);
  const b = await node(2);
  a.t.addPeer(3, b.t.address); // a thinks node 3 lives there
  a.t.send(3, "misrouted");
  await waitFor("refusal", () =>
    b.logs.some((l) => /hello for node 3, this is 2 \[wrong_node\]/.test(l)),
  );
  assert.equal(b.got.length, 0);
});

test("updatePeer moves a peer to its new address; removePeer stops it", async () => {
  const a = await node(1);
  const b1 = await node(2);
  const b2 = await node(2);
  a.t.addPeer(2, b1.t.address);
  a.t.send(2, "one");
  await waitFor("at old address", () => b1.got.length === 1);
  a.t.updatePeer(2, b2.t.address);
  await waitFor("at new address", () => {
    a.t.send(2, "two");
    return b2.got.length > 0;
  });
  a.t.removePeer(2);
  assert.equal(a.t.send(2, "three"), false);
  assert.equal(a.t.peerStatus(2), undefined);
});

test("a peer's new connection replaces its old, half-open one", async () => {
  const b = await node(2);
  const port = b.t.address.port;
  const hello = Buffer.from(encodeFrame({ v: 1, from: 5, to: 2 }, 256));
  const first = await rawSocket(port);
  first.write(Buffer.concat([hello, encodeFrame({ n: 1 }, 256)]));
  await waitFor("first adopted", () => b.got.length === 1);
  const second = await rawSocket(port);
  second.write(hello);
  await closed(first);
  assert.match(b.logs.join("\n"), /peer 5 reconnected; closing its previous connection/);
  assert.equal(second.destroyed, false);
  second.destroy();
});
