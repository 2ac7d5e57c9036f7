// The Raft transport over mutual TLS (secure mode): two transports with manager certificates
// exchange messages; a peer without OU=manager, from another CA or cluster, revoked, or with no
// certificate is refused, on whichever side sees it.

import assert from "node:assert/strict";
import type net from "node:net";
import { after, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { raftSockets } from "../secure.ts";
import { type IssuedTls, TestCluster } from "../secure-testing.ts";
import { Transport } from "./transport.ts";

const cluster = new TestCluster("c1");
const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

function factory(m: IssuedTls, c = cluster) {
  return raftSockets(c.deps(() => m));
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Listens with `server` material; dials with `client`; says what each side got. */
async function dial(server: IssuedTls, client: IssuedTls, clientCluster = cluster) {
  const accepted: net.Socket[] = [];
  const srv = await factory(server).listen({ host: "127.0.0.1", port: 0 }, (s) => {
    accepted.push(s);
    s.on("error", () => undefined);
  });
  servers.push(srv);
  const port = (srv.address() as net.AddressInfo).port;
  const result = await factory(client, clientCluster)
    .connect({ host: "127.0.0.1", port }, 5000)
    .then(
      async (s) => {
        // TLS 1.3: a refused client certificate shows only after the client's handshake.
        const closed = new Promise<boolean>((r) => {
          s.once("close", () => r(true));
          setTimeout(() => r(false), 1000);
        });
        s.on("error", () => undefined);
        s.write("x");
        const wasClosed = await closed;
        s.destroy();
        return wasClosed ? "closed by server" : "connected";
      },
      (err: Error) => `refused: ${err.message}`,
    );
  srv.close();
  return { result, accepted: accepted.length };
}

test("two transports with manager certificates exchange messages", async () => {
  const a = cluster.issue("m1", "manager");
  const b = cluster.issue("m2", "manager");
  const got: unknown[] = [];
  const t1 = await Transport.start({
    id: 1,
    listen: { host: "127.0.0.1", port: 0 },
    onMessage: () => undefined,
    sockets: factory(a),
    log: () => undefined,
  });
  const t2 = await Transport.start({
    id: 2,
    listen: { host: "127.0.0.1", port: 0 },
    onMessage: (from, m) => got.push({ from, m }),
    sockets: factory(b),
    log: () => undefined,
  });
  try {
    t1.addPeer(2, t2.address);
    await until("a message over mTLS", () => {
      if (got.length === 0) t1.send(2, { hello: "over tls" });
      return got.length > 0;
    });
    assert.deepEqual(got[0], { from: 1, m: { hello: "over tls" } });
  } finally {
    await t1.close();
    await t2.close();
  }
});

test("good manager certificates connect both ways", async () => {
  const r = await dial(cluster.issue("m1", "manager"), cluster.issue("m2", "manager"));
  assert.deepEqual(r, { result: "connected", accepted: 1 });
});

test("the server refuses a client without OU=manager, revoked, foreign or without a cert", async () => {
  const server = cluster.issue("m1", "manager");
  const worker = cluster.issue("w1", "worker");
  const w = await dial(server, worker);
  assert.equal(w.accepted, 0);
  assert.notEqual(w.result, "connected");
  assert.ok(cluster.logged("worker certificate of w1 refused here"));

  const revoked = cluster.issue("m3", "manager");
  cluster.revoked.add(revoked.serial);
  const r = await dial(server, revoked);
  assert.equal(r.accepted, 0);
  assert.ok(cluster.logged(`${revoked.serial} of m3 is revoked`));

  const other = new TestCluster("c2");
  const foreign = other.issue("m9", "manager");
  // The client trusts our root (it wants to talk to us); its own certificate is c2's.
  const f = await dial(server, { ...foreign, caPem: server.caPem }, other);
  assert.equal(f.accepted, 0);

  // No certificate at all: the handshake itself fails (requestCert + rejectUnauthorized).
  const srv = await factory(server).listen({ host: "127.0.0.1", port: 0 }, () =>
    assert.fail("accepted a client without a certificate"),
  );
  servers.push(srv);
  const port = (srv.address() as net.AddressInfo).port;
  const bare = tlsConnect({
    host: "127.0.0.1",
    port,
    ca: [server.caPem],
    servername: "fleet-manager",
  });
  const closed = await new Promise<boolean>((resolve) => {
    bare.on("error", () => undefined);
    bare.once("close", () => resolve(true));
    setTimeout(() => resolve(false), 5000);
  });
  assert.equal(closed, true);
  srv.close();
});

test("the client refuses a server that is not a manager, revoked or of another CA", async () => {
  const client = cluster.issue("m1", "manager");
  const notManager = await dial(cluster.issue("w2", "worker"), client);
  assert.match(notManager.result, /^refused: .*fleet-manager/);
  const revokedServer = cluster.issue("m4", "manager");
  cluster.revoked.add(revokedServer.serial);
  const r = await dial(revokedServer, client);
  assert.match(r.result, /^refused: .*revoked/);
  const other = new TestCluster("c1", "ed25519", "another-ca");
  const f = await dial(other.issue("m5", "manager"), client);
  assert.match(f.result, /^refused: /);
});

test("a renewed certificate serves the next handshake without a restart", async () => {
  const client = cluster.issue("m1", "manager");
  let current = cluster.issue("m2", "manager");
  const srv = await raftSockets(cluster.deps(() => current)).listen(
    { host: "127.0.0.1", port: 0 },
    (s) => s.destroy(),
  );
  servers.push(srv);
  const port = (srv.address() as net.AddressInfo).port;
  const servedSerial = async () => {
    const s = await factory(client).connect({ host: "127.0.0.1", port }, 5000);
    const serial = (s as TLSSocket).getPeerCertificate().serialNumber;
    s.destroy();
    return serial.toLowerCase();
  };
  const first = current.serial;
  assert.equal((await servedSerial()).replace(/^0+/, ""), first.replace(/^0+/, ""));
  current = cluster.issue("m2", "manager");
  assert.notEqual(current.serial, first);
  assert.equal((await servedSerial()).replace(/^0+/, ""), current.serial.replace(/^0+/, ""));
  srv.close();
});
