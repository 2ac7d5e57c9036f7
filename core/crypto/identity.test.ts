import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../limits.ts";
import { parseCertificate } from "./cert-read.ts";
import { CryptoError } from "./errors.ts";
import {
  caDigest,
  issueCertificate,
  loadRootCA,
  MANAGER_SERVER_NAME,
  verifyIdentity,
} from "./identity.ts";
import { privateKeyFromPem, privateKeyToPem } from "./keys.ts";
import { DAY_MS, TEST_NOW_MS, testBytes, testKey, testNodeCert, testRoot } from "./testing.ts";

const code = (c: string) => (err: unknown) => err instanceof CryptoError && err.code === c;

for (const curve of ["ed25519", "p256"] as const) {
  test(`${curve}: root CA is a self-signed v3 CA for the cluster`, () => {
    const root = testRoot("c1", curve);
    const cert = parseCertificate(root.certPem);
    assert.equal(cert.isCA, true);
    assert.equal(cert.curve, curve);
    assert.deepEqual(cert.subject, { commonName: "fleet-root-ca", organization: "c1" });
    assert.equal(cert.notAfterMs - cert.notBeforeMs, limits.caCertExpiryMs + limits.certBackdateMs);
    assert.match(root.digest, /^[0-9a-f]{64}$/);
    assert.equal(caDigest(root.certPem), root.digest);
  });

  test(`${curve}: a node certificate names node, role, cluster and verifies`, () => {
    const root = testRoot("c1", curve);
    const n = testNodeCert(root, "node-7", "manager", { key: testKey("n7", curve) });
    const cert = parseCertificate(n.certPem);
    assert.deepEqual(cert.subject, {
      commonName: "node-7",
      organizationalUnit: "manager",
      organization: "c1",
    });
    assert.deepEqual(cert.extKeyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    assert.deepEqual(cert.dnsNames, [MANAGER_SERVER_NAME]);
    assert.equal(cert.isCA, false);
    assert.equal(n.notAfterMs, TEST_NOW_MS + 90 * DAY_MS);
    const id = verifyIdentity(n.certPem, root.cert, { nowMs: TEST_NOW_MS });
    assert.equal(id.nodeId, "node-7");
    assert.equal(id.role, "manager");
    assert.equal(id.serial, n.serial);
  });

  test(`${curve}: the private key round-trips through PKCS#8 PEM`, () => {
    const key = testKey("pem", curve);
    const back = privateKeyFromPem(privateKeyToPem(key));
    assert.deepEqual([...back.publicKey], [...key.publicKey]);
    assert.deepEqual([...back.secretKey], [...key.secretKey]);
  });
}

test("SANs, IPs and serials", () => {
  const root = testRoot();
  const c = issueCertificate({
    ca: root,
    clusterId: "c1",
    nodeId: "m1",
    role: "manager",
    publicKey: testKey("m1").publicKey,
    serialRandom: new Uint8Array(16),
    nowMs: TEST_NOW_MS,
    expiryMs: DAY_MS,
    dnsNames: ["m1.local"],
    ipAddresses: ["127.0.0.1", "10.0.0.7"],
  });
  const cert = parseCertificate(c.certPem);
  assert.deepEqual(cert.dnsNames, [MANAGER_SERVER_NAME, "m1.local"]);
  assert.deepEqual(cert.ipAddresses, ["127.0.0.1", "10.0.0.7"]);
  assert.equal(c.serial, `40${"00".repeat(15)}`, "top bit cleared, no leading zero byte");
});

test("the returned serial and times are the certificate's own (whole seconds)", () => {
  const root = testRoot();
  const n = testNodeCert(root, "w1", "worker", { nowMs: TEST_NOW_MS + 1234, expiryMs: DAY_MS + 5 });
  const cert = parseCertificate(n.certPem);
  assert.equal(n.serial, cert.serial);
  assert.equal(n.notBeforeMs, cert.notBeforeMs);
  assert.equal(n.notAfterMs, cert.notAfterMs);
  assert.equal(n.notAfterMs % 1000, 0);
});

test("verification refuses another CA, wrong cluster, expiry, early use and revocation", () => {
  const root = testRoot("c1");
  const other = testRoot("c2");
  const n = testNodeCert(root, "w1");
  const foreign = testNodeCert(other, "w1");
  const now = TEST_NOW_MS;
  assert.throws(
    () => verifyIdentity(foreign.certPem, root.cert, { nowMs: now }),
    code("unknown-issuer"),
  );
  assert.throws(
    () => verifyIdentity(root.certPem, root.cert, { nowMs: now }),
    code("unknown-issuer"),
  );
  assert.throws(
    () => verifyIdentity(n.certPem, root.cert, { nowMs: now + 91 * DAY_MS }),
    code("expired"),
  );
  assert.throws(
    () => verifyIdentity(n.certPem, root.cert, { nowMs: now - DAY_MS }),
    code("not-yet-valid"),
  );
  const id = verifyIdentity(n.certPem, root.cert, {
    nowMs: now + 91 * DAY_MS,
    expiredGraceMs: 2 * DAY_MS,
  });
  assert.equal(id.nodeId, "w1");
  const c2 = issueCertificate({
    ca: root,
    clusterId: "c2",
    nodeId: "w2",
    role: "worker",
    publicKey: testKey("w2").publicKey,
    serialRandom: testBytes("w2", 16),
    nowMs: now,
    expiryMs: DAY_MS,
  });
  assert.throws(
    () => verifyIdentity(c2.certPem, root.cert, { nowMs: now }),
    code("wrong-identity"),
  );
  const isRevoked = (serial: string) => serial === n.serial;
  assert.throws(
    () => verifyIdentity(n.certPem, root.cert, { nowMs: now, isRevoked }),
    code("revoked"),
  );
});

test("a certificate with the right names but another key's signature is refused", () => {
  const root = testRoot("c1");
  const impostor = { ...root, key: testKey("impostor") };
  const forged = testNodeCert(impostor, "w1");
  assert.throws(
    () => verifyIdentity(forged.certPem, root.cert, { nowMs: TEST_NOW_MS }),
    code("unknown-issuer"),
  );
});

test("garbage input is a typed error, never a crash", () => {
  const root = testRoot();
  const bad = [
    "",
    "not pem",
    "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    `-----BEGIN CERTIFICATE-----\n${"A".repeat(70_000)}\n-----END CERTIFICATE-----`,
  ];
  for (const text of bad)
    assert.throws(
      () => parseCertificate(text),
      (e) => e instanceof CryptoError,
    );
  const der = parseCertificate(root.certPem).der;
  for (let cut = 1; cut < der.length; cut += 7)
    assert.throws(
      () => parseCertificate(der.subarray(0, cut)),
      (e) => e instanceof CryptoError,
    );
  for (let i = 0; i < der.length; i += 3) {
    const flipped = Uint8Array.from(der);
    flipped[i] = (flipped[i] as number) ^ 0xff;
    try {
      const c = parseCertificate(flipped);
      assert.throws(
        () => verifyIdentity(c, root.cert, { nowMs: TEST_NOW_MS }),
        (e) => e instanceof CryptoError,
      );
    } catch (e) {
      assert.ok(e instanceof CryptoError, String(e));
    }
  }
  assert.throws(
    () => privateKeyFromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
    code("bad-key"),
  );
});

test("loadRootCA refuses a key that does not match the certificate", () => {
  const root = testRoot();
  assert.equal(loadRootCA(root.certPem, root.key).digest, root.digest);
  assert.throws(() => loadRootCA(root.certPem, testKey("other")), code("bad-key"));
  assert.throws(
    () =>
      issueCertificate({
        ca: root,
        clusterId: "c1",
        nodeId: "bad/id",
        role: "worker",
        publicKey: root.key.publicKey,
        serialRandom: testBytes("s", 16),
        nowMs: 0,
        expiryMs: DAY_MS,
      }),
    code("bad-input"),
  );
});
