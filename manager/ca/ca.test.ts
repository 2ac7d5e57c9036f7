import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { readCrl } from "../../core/crypto/crl.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import { signJoinRequest, signRenewal } from "../../core/crypto/proof.ts";
import { DAY_MS, TEST_NOW_MS, testBytes, testKey } from "../../core/crypto/testing.ts";
import { CertificateAuthority } from "./ca.ts";
import { RevocationList } from "./revocation.ts";

const code = (c: string) => (err: unknown) => err instanceof CryptoError && err.code === c;

function setup(curve: "ed25519" | "p256" = "ed25519", seed = "ca") {
  const clock = { now: TEST_NOW_MS };
  let counter = 0;
  const randomBytes = (n: number) => testBytes(`${seed}-random-${counter++}`, n);
  const { ca, tokens } = CertificateAuthority.create({
    clusterId: "c1",
    curve,
    now: () => clock.now,
    randomBytes,
  });
  return { ca, tokens, clock };
}

function joinWorker(
  ca: CertificateAuthority,
  token: string,
  nodeId: string,
  curve: "ed25519" | "p256" = "ed25519",
) {
  const key = testKey(nodeId, curve);
  const res = ca.join(signJoinRequest(key, token, `req-${nodeId}`), `req-${nodeId}`, nodeId);
  return { key, res };
}

test("join: the token picks the role; the certificate names the new node", () => {
  const { ca, tokens } = setup();
  const { res } = joinWorker(ca, tokens.worker, "w1");
  assert.equal(res.role, "worker");
  assert.equal(parseCertificate(res.certPem).subject.organizationalUnit, "worker");
  const m = ca.join(signJoinRequest(testKey("m1"), tokens.manager, "r2"), "r2", "m1", {
    ipAddresses: ["127.0.0.1"],
  });
  assert.equal(m.role, "manager");
  assert.deepEqual(parseCertificate(m.certPem).ipAddresses, ["127.0.0.1"]);
  assert.equal(ca.verifyPeer(m.certPem).role, "manager");
});

test("join: wrong, rotated or foreign tokens, forged and replayed requests are refused", () => {
  const { ca, tokens } = setup();
  const other = setup("ed25519", "other").ca;
  const key = testKey("x");
  const req = signJoinRequest(key, tokens.worker, "r1");
  assert.throws(() => ca.join(req, "r2", "n1"), code("bad-proof"));
  assert.throws(
    () => ca.join({ ...req, proof: testBytes("forged", 64) }, "r1", "n1"),
    code("bad-proof"),
  );
  assert.throws(() => ca.join({ ...req, token: "FLT1-nope" }, "r1", "n1"), code("bad-token"));
  assert.throws(() => other.join(req, "r1", "n1"), code("ca-mismatch"));
  const rotated = ca.rotateJoinToken("worker");
  assert.throws(() => ca.join(req, "r1", "n1"), code("wrong-token"));
  const fresh = signJoinRequest(key, rotated, "r1");
  ca.join(fresh, "r1", "n1");
  assert.throws(() => ca.join(fresh, "r1", "n2"), code("replayed"));
  assert.throws(() => ca.join(signJoinRequest(key, rotated, "r9"), "r9", "n3"), code("replayed"));
  const stranger = tokens.worker.replace(/-[0-9a-f]{32}$/, "-00000000000000000000000000000000");
  const strangerReq = signJoinRequest(testKey("y"), stranger, "r5");
  assert.throws(() => ca.join(strangerReq, "r5", "n5"), code("wrong-token"));
});

for (const curve of ["ed25519", "p256"] as const) {
  test(`${curve}: renewal with the current key and a new key`, () => {
    const { ca, tokens, clock } = setup(curve);
    const { key, res } = joinWorker(ca, tokens.worker, "w1", curve);
    clock.now += 60 * DAY_MS;
    const next = testKey("w1-next", curve);
    const subject = { clusterId: "c1", nodeId: "w1", serial: res.serial };
    const csr = { ...signRenewal(key, next, subject), certPem: res.certPem };
    const renewed = ca.renew("w1", csr, { role: "worker" });
    assert.equal(renewed.reenrolled, false);
    assert.equal(renewed.notAfterMs, clock.now + 90 * DAY_MS);
    const id = ca.verifyPeer(renewed.certPem);
    assert.deepEqual(
      [id.nodeId, id.role, [...id.publicKey]],
      ["w1", "worker", [...next.publicKey]],
    );
    assert.notEqual(renewed.serial, res.serial);
  });
}

test("renewal refusals: other session, stolen proof, revoked, removed, garbage", () => {
  const { ca, tokens } = setup();
  const { key, res } = joinWorker(ca, tokens.worker, "w1");
  const next = testKey("next");
  const subject = { clusterId: "c1", nodeId: "w1", serial: res.serial };
  const csr = { ...signRenewal(key, next, subject), certPem: res.certPem };
  assert.throws(() => ca.renew("w2", csr, { role: "worker" }), code("wrong-identity"));
  const thief = { ...signRenewal(testKey("thief"), next, subject), certPem: res.certPem };
  assert.throws(() => ca.renew("w1", thief, { role: "worker" }), code("bad-proof"));
  assert.throws(() => ca.renew("w1", csr, undefined), code("removed"));
  assert.throws(
    () => ca.renew("w1", { ...csr, certPem: "junk" }, { role: "worker" }),
    code("bad-pem"),
  );
  assert.throws(
    () => ca.renew("w1", { ...csr, publicKey: new Uint8Array(7) }, { role: "worker" }),
    code("bad-key"),
  );
  ca.revoke(res.serial, res.notAfterMs);
  assert.throws(() => ca.renew("w1", csr, { role: "worker" }), code("revoked"));
});

test("re-enrolment: within the window after expiry with the old key, not after it", () => {
  const { ca, tokens, clock } = setup();
  ca.reenrolWindowMs = 10 * DAY_MS;
  const { key, res } = joinWorker(ca, tokens.worker, "w1");
  const csrAt = () => {
    const subject = { clusterId: "c1", nodeId: "w1", serial: res.serial };
    return { ...signRenewal(key, key, subject), certPem: res.certPem };
  };
  clock.now = res.notAfterMs + 9 * DAY_MS;
  assert.throws(() => ca.verifyPeer(res.certPem), code("expired"), "expired certs are not peers");
  const back = ca.renew("w1", csrAt(), { role: "worker" });
  assert.equal(back.reenrolled, true);
  clock.now = res.notAfterMs + 11 * DAY_MS;
  assert.throws(() => ca.renew("w1", csrAt(), { role: "worker" }), code("expired"));
});

test("a removed node never returns: not by renewal, re-enrolment or a new join", () => {
  const { ca, tokens } = setup();
  const { key, res } = joinWorker(ca, tokens.worker, "w1");
  ca.removeNode("w1", [{ serial: res.serial, notAfterMs: res.notAfterMs }]);
  assert.throws(() => ca.verifyPeer(res.certPem), code("revoked"));
  const subject = { clusterId: "c1", nodeId: "w1", serial: res.serial };
  const csr = { ...signRenewal(key, testKey("n"), subject), certPem: res.certPem };
  assert.throws(() => ca.renew("w1", csr, { role: "worker" }), code("revoked"));
  const again = signJoinRequest(testKey("w1-again"), tokens.worker, "r7");
  assert.throws(() => ca.join(again, "r7", "w1"), code("removed"));
  const restored = RevocationList.fromJSON(JSON.parse(JSON.stringify(ca.revocations.toJSON())));
  assert.deepEqual(readCrl(ca.crlPem(), ca.root.cert).serials, [res.serial]);
  assert.equal(restored.isRevoked(res.serial), true);
  assert.equal(restored.isRemoved("w1"), true);
});

test("promotion and demotion reissue with the new OU; renewal follows the store's role", () => {
  const { ca, tokens } = setup();
  const { key, res } = joinWorker(ca, tokens.worker, "w1");
  const promoted = ca.changeRole(res.certPem, "manager", { dnsNames: ["w1.lan"] });
  const cert = parseCertificate(promoted.certPem);
  assert.equal(cert.subject.organizationalUnit, "manager");
  assert.deepEqual(cert.dnsNames, ["fleet-manager", "w1.lan"]);
  const subject = { clusterId: "c1", nodeId: "w1", serial: promoted.serial };
  const csr = { ...signRenewal(key, key, subject), certPem: promoted.certPem };
  assert.equal(ca.renew("w1", csr, { role: "worker" }).role, "worker");
  assert.equal(ca.verifyPeer(ca.changeRole(promoted.certPem, "worker").certPem).role, "worker");
});

test("admin certificates and the revocation list bound", () => {
  const { ca } = setup();
  const admin = ca.issueAdmin("ops-alice", testKey("alice").publicKey);
  assert.equal(ca.verifyPeer(admin.certPem).role, "admin");
  const list = new RevocationList();
  list.revoke("4001", 100, 50);
  list.revoke("4002", 10_000, 60);
  assert.equal(list.prune(1000, 500), 1);
  assert.deepEqual(list.toJSON().serials, [
    { serial: "4002", notAfterMs: 10_000, revokedAtMs: 60 },
  ]);
  assert.throws(() => list.revoke("zz", 1, 1), code("bad-input"));
});
