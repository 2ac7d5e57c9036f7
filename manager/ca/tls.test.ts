// Mutual TLS with real node:tls sockets on 127.0.0.1 and certificates from the fleet CA.

import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, createServer, type TLSSocket } from "node:tls";
import { privateKeyToPem } from "../../core/crypto/keys.ts";
import { DAY_MS, testKey } from "../../core/crypto/testing.ts";
import { parseJoinToken, verifyPinnedChain } from "../../core/crypto/token.ts";
import { presentedChain } from "../../edge-agent/join/pinned.ts";
import { CertificateAuthority } from "./ca.ts";
import { mtlsClientOptions, mtlsServerOptions, peerIdentity, type TlsMaterial } from "./tls.ts";

type Curve = "ed25519" | "p256";

function cluster(clusterId: string, curve: Curve, nowMs = Date.now()) {
  const clock = { now: nowMs };
  const { ca } = CertificateAuthority.create({ clusterId, curve, now: () => clock.now });
  const material = (nodeId: string, role: "worker" | "manager", expiryMs = 90 * DAY_MS) => {
    const key = testKey(`${clusterId}:${nodeId}`, curve);
    const issued = ca.issue(nodeId, role, key.publicKey, {}, expiryMs);
    const m: TlsMaterial = {
      caPem: ca.root.certPem,
      certPem: issued.certPem,
      keyPem: privateKeyToPem(key),
    };
    return { ...m, serial: issued.serial, notAfterMs: issued.notAfterMs };
  };
  return { ca, clock, material };
}

type Outcome = { ok: true; greeting: string } | { ok: false; why: string };

/**
 * Starts an mTLS server that greets authorized peers by identity and runs one client against
 * it. Resolves once the client has closed and the server has said what it did (bounded).
 */
async function attempt(
  server: TlsMaterial,
  client: TlsMaterial,
  ca: CertificateAuthority,
): Promise<Outcome> {
  const serverSaid: string[] = [];
  let settle = () => {};
  const srv = createServer(mtlsServerOptions(server), (socket: TLSSocket) => {
    try {
      const id = peerIdentity(socket, (der) => ca.verifyPeer(der));
      socket.end(`hello ${id.role} ${id.nodeId}\n`);
      serverSaid.push("greeted");
    } catch (err) {
      socket.destroy();
      serverSaid.push(String(err));
    }
    settle();
  });
  srv.on("tlsClientError", (err) => {
    serverSaid.push(`tls: ${err.message}`);
    settle();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise<Outcome>((resolve) => {
      let data = "";
      let clientWhy: string | undefined;
      const timer = setTimeout(() => finish("timeout"), 10_000);
      const finish = (why?: string) => {
        clearTimeout(timer);
        if (data.startsWith("hello")) resolve({ ok: true, greeting: data.trim() });
        else resolve({ ok: false, why: `${why ?? clientWhy}; server: ${serverSaid.join("; ")}` });
      };
      settle = () => {
        if (clientWhy !== undefined && serverSaid.length > 0) finish();
      };
      const s = connect({ ...mtlsClientOptions(client), host: "127.0.0.1", port });
      s.on("data", (d) => {
        data += String(d);
      });
      s.on("error", (err) => {
        clientWhy ??= err.message;
      });
      s.on("close", () => {
        clientWhy ??= "closed";
        // A client that refused the server leaves the server nothing to say.
        if (serverSaid.length > 0 || /self|verify|certificate/i.test(clientWhy)) finish();
      });
    });
  } finally {
    await new Promise((r) => srv.close(r));
  }
}

for (const curve of ["ed25519", "p256"] as const) {
  test(`${curve}: a worker certificate talks to a manager certificate (mTLS)`, async () => {
    const c = cluster("c1", curve);
    const r = await attempt(c.material("m1", "manager"), c.material("w1", "worker"), c.ca);
    assert.deepEqual(r, { ok: true, greeting: "hello worker w1" });
  });

  test(`${curve}: another CA's certificate is refused, in both directions`, async () => {
    const c = cluster("c1", curve);
    const other = cluster("c1", curve);
    // The client trusts this cluster's root but holds a certificate from another CA.
    const foreign = { ...other.material("w1", "worker"), caPem: c.ca.root.certPem };
    const r = await attempt(c.material("m1", "manager"), foreign, c.ca);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.why, /server: tls: /, "OpenSSL refused it before our hook ran");
    // A server from another CA is refused by the client (the pinned root does not sign it).
    const fakeServer = other.material("m1", "manager");
    const r2 = await attempt(fakeServer, c.material("w1", "worker"), other.ca);
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.why, /^self-signed certificate in certificate chain/);
  });

  test(`${curve}: an expired certificate is refused`, async () => {
    const now = Date.now();
    const c = cluster("c1", curve, now - 100 * DAY_MS);
    const expired = c.material("w1", "worker", 90 * DAY_MS);
    c.clock.now = now;
    assert.ok(expired.notAfterMs < now);
    const r = await attempt(c.material("m1", "manager"), expired, c.ca);
    assert.equal(r.ok, false);
    // OpenSSL refuses it during the handshake (Node reports that server-side as a hang-up);
    // the CA's own check names the reason.
    if (!r.ok) assert.match(r.why, /server: tls: /);
    assert.throws(() => c.ca.verifyPeer(expired.certPem), /has expired/);
  });

  test(`${curve}: a revoked serial is refused by the verification hook`, async () => {
    const c = cluster("c1", curve);
    const w = c.material("w1", "worker");
    c.ca.revoke(w.serial, w.notAfterMs);
    const r = await attempt(c.material("m1", "manager"), w, c.ca);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.why, /revoked/);
  });

  test(`${curve}: a client without a certificate is refused`, async () => {
    const c = cluster("c1", curve);
    const w = c.material("w1", "worker");
    const r = await attempt(c.material("m1", "manager"), { ...w, certPem: "", keyPem: "" }, c.ca);
    assert.equal(r.ok, false);
    if (!r.ok)
      assert.match(
        r.why,
        /server: tls: .*(peer did not return a certificate|certificate required)/i,
      );
  });
}

test("mixed curves: an Ed25519 manager and a P-256 worker under one root", async () => {
  const c = cluster("c1", "ed25519");
  const key = testKey("p256-worker", "p256");
  const issued = c.ca.issue("w9", "worker", key.publicKey);
  const w = { caPem: c.ca.root.certPem, certPem: issued.certPem, keyPem: privateKeyToPem(key) };
  const r = await attempt(c.material("m1", "manager"), w, c.ca);
  assert.deepEqual(r, { ok: true, greeting: "hello worker w9" });
});

test("a joining node pins the root from its token before it sends the secret", async () => {
  const c = cluster("c1", "ed25519");
  const other = cluster("c1", "ed25519");
  const token = c.ca.rotateJoinToken("worker");
  const pinned = parseJoinToken(token).caDigest;
  const tryJoin = async (broker: ReturnType<typeof c.material>) => {
    const received: string[] = [];
    // A join listener: server-authenticated only, presenting its chain up to the root.
    const srv = createServer(
      { cert: broker.certPem + broker.caPem, key: broker.keyPem, minVersion: "TLSv1.3" },
      (s) => s.on("data", (d) => received.push(String(d))).on("end", () => s.end()),
    );
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    const outcome = await new Promise<string>((resolve) => {
      const s = connect({
        host: "127.0.0.1",
        port,
        rejectUnauthorized: false,
        minVersion: "TLSv1.3",
      });
      s.on("secureConnect", () => {
        try {
          verifyPinnedChain(presentedChain(s), pinned);
          s.end(`join ${token}`);
          resolve("sent");
        } catch (err) {
          s.destroy();
          resolve(String(err));
        }
      });
      s.on("error", (err) => resolve(err.message));
    });
    await new Promise((r) => srv.close(r));
    return { outcome, received };
  };
  const good = await tryJoin(c.material("m1", "manager"));
  assert.equal(good.outcome, "sent");
  assert.match(good.received.join(""), /^join FLT1-/);
  const evil = await tryJoin(other.material("m1", "manager"));
  assert.match(evil.outcome, /lacks the CA pinned/);
  assert.deepEqual(evil.received, [], "the impostor never saw the token");
});
