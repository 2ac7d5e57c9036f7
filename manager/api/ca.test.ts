import assert from "node:assert/strict";
import { test } from "node:test";
import { toHex } from "../../core/crypto/bytes.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { readCrl } from "../../core/crypto/crl.ts";
import { testKey } from "../../core/crypto/testing.ts";
import { CertificateAuthority } from "../ca/ca.ts";
import { isSealed } from "../ca/keystore.ts";
import { CaKeeper, clusterCAFields } from "../ca/lifecycle.ts";
import { ApiServer } from "./server.ts";
import { call, testWorld } from "./testing.ts";

function world() {
  const w = testWorld();
  const { ca, tokens } = CertificateAuthority.create({ clusterId: "c1" });
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    tx.update("clusters", { ...c, ...clusterCAFields(ca, tokens) });
    const w1 = tx.get("nodes", "w1")!;
    tx.update("nodes", { ...w1, certificate: { serial: "0badc0de", notAfter: 2e12 } });
  });
  const keeper = new CaKeeper("c1");
  const api = new ApiServer(w.ctx, { ca: keeper });
  // A second manager of the same cluster (same store), restarted: it holds no unlock key.
  const other = () => new ApiServer(w.ctx, { ca: new CaKeeper("c1") });
  return { ...w, ca, keeper, api, other };
}

const cluster = (w: ReturnType<typeof world>) => w.store.view((tx) => tx.get("clusters", "c1"))!;

test("ca api: admin and broker certificates from public keys; CRL and managers for mosquitto", async () => {
  const w = world();
  const pub = toHex(testKey("ops").publicKey);
  const a = await call(w.api, "POST", "/v1/ca/admin", { name: "ops", publicKey: pub });
  assert.equal(a.status, 200);
  const cert = parseCertificate(a.body.certPem);
  assert.equal(cert.subject.organizationalUnit, "admin");
  assert.equal(cert.subject.commonName, "ops");
  assert.equal(w.ca.verifyPeer(a.body.certPem).role, "admin");
  const b = await call(w.api, "POST", "/v1/ca/broker", {
    name: "mosq",
    publicKey: pub,
    ipAddresses: ["127.0.0.1"],
  });
  assert.equal(b.status, 200);
  assert.deepEqual(b.body.managers, ["m1"]);
  assert.ok(readCrl(b.body.crlPem, w.ca.root.cert).nextUpdateMs > Date.now());
  assert.deepEqual(parseCertificate(b.body.certPem).ipAddresses, ["127.0.0.1"]);
  for (const bad of [
    { name: "ops", publicKey: "zz" },
    { name: "a/b", publicKey: pub },
    { publicKey: pub },
  ]) {
    assert.equal((await call(w.api, "POST", "/v1/ca/admin", bad)).status, 400);
  }
});

test("ca api: autolock seals the key; a restarted manager is locked until fleet unlock", async () => {
  const w = world();
  const on = await call(w.api, "POST", "/v1/ca/autolock?enable=true");
  assert.equal(on.status, 200);
  const key = on.body.unlockKey as string;
  assert.match(key, /^FLTKEY-1-/);
  assert.ok(isSealed(cluster(w).rootCA!.keyPem));
  assert.equal(cluster(w).spec.autolock, true);
  assert.equal(JSON.stringify(cluster(w)).includes("PRIVATE KEY"), false);
  // This manager sealed it and keeps acting as CA; a restarted one cannot.
  assert.ok(w.keeper.ca(cluster(w)));
  assert.equal((await call(w.api, "GET", "/v1/ca/unlock-key")).body.unlockKey, key);
  const restarted = w.other();
  const pub = toHex(testKey("ops").publicKey);
  const locked = await call(restarted, "POST", "/v1/ca/admin", { name: "ops", publicKey: pub });
  assert.equal(locked.status, 409);
  assert.match(locked.body.error.message, /fleet unlock/);
  const wrong = await call(restarted, "POST", "/v1/ca/unlock", { key: `${key.slice(0, -2)}AA` });
  assert.equal(wrong.status, 400);
  assert.equal((await call(restarted, "POST", "/v1/ca/unlock", { key })).status, 200);
  const issued = await call(restarted, "POST", "/v1/ca/admin", { name: "ops", publicKey: pub });
  assert.equal(issued.status, 200);

  // Rotation: the old key stops opening the CA key; the rotating manager holds the new one.
  const rot = await call(w.api, "POST", "/v1/ca/unlock-key/rotate");
  assert.equal(rot.status, 200);
  assert.notEqual(rot.body.unlockKey, key);
  const third = w.other();
  assert.equal((await call(third, "POST", "/v1/ca/unlock", { key })).status, 400);
  assert.equal(
    (await call(third, "POST", "/v1/ca/unlock", { key: rot.body.unlockKey })).status,
    200,
  );

  const off = await call(w.api, "POST", "/v1/ca/autolock?enable=false");
  assert.equal(off.status, 200);
  assert.equal(cluster(w).rootCA!.keyEncrypted, false);
  assert.ok(w.other() && new CaKeeper("c1").ca(cluster(w)), "open again: any manager is CA");
  assert.equal((await call(w.api, "GET", "/v1/ca/unlock-key")).status, 409);
});

test("node rm revokes the node's serial and retires its id in the cluster object", async () => {
  const w = world();
  w.store.update((tx) => {
    const n = tx.get("nodes", "w1")!;
    tx.update("nodes", { ...n, status: { ...n.status, state: "down" } });
  });
  assert.equal((await call(w.api, "DELETE", "/v1/nodes/w1")).status, 200);
  const rev = cluster(w).revocations!;
  assert.deepEqual(rev.removedNodes, ["w1"]);
  assert.deepEqual(
    rev.serials.map((s) => s.serial),
    ["0badc0de"],
  );
  const ca = w.keeper.ca(cluster(w))!;
  assert.equal(ca.revocations.isRevoked("0badc0de"), true);
  assert.throws(() => ca.issue("w1", "worker", testKey("w1").publicKey), /removed/);
});

test("cluster update --cert-expiry: certificates issued afterwards carry the new lifetime", async () => {
  const w = world();
  const c = cluster(w);
  const spec = { ...c.spec, nodeCertExpiryMs: 2 * 24 * 60 * 60 * 1000 };
  const r = await call(w.api, "POST", `/v1/cluster/update?version=${c.version}`, spec);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const pub = toHex(testKey("ops").publicKey);
  const a = await call(w.api, "POST", "/v1/ca/admin", { name: "ops", publicKey: pub });
  const days = (a.body.notAfterMs - Date.now()) / (24 * 60 * 60 * 1000);
  assert.ok(days > 1.9 && days < 2.1, `${days} days`);
});
