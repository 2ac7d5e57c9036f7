import assert from "node:assert/strict";
import { test } from "node:test";
import { buildCertificate } from "../core/crypto/cert.ts";
import { parseCertificate } from "../core/crypto/cert-read.ts";
import { CryptoError } from "../core/crypto/errors.ts";
import { privateKeyToPem } from "../core/crypto/keys.ts";
import { toPem } from "../core/crypto/pem.ts";
import { DAY_MS, TEST_NOW_MS, testKey, testNodeCert, testRoot } from "../core/crypto/testing.ts";
import { certFacts, keyFitsCert } from "./cert-facts.ts";

const code = (c: string) => (e: unknown) => e instanceof CryptoError && e.code === c;

test("cert facts: serial and validity as core/crypto reads them (ed25519 and p256)", () => {
  for (const curve of ["ed25519", "p256"] as const) {
    const root = testRoot(`c-${curve}`, curve);
    for (const id of ["w1", "w2", "m1"]) {
      const n = testNodeCert(root, id, "worker", { expiryMs: 7 * DAY_MS });
      const p = parseCertificate(n.certPem);
      assert.deepEqual(certFacts(n.certPem), {
        serial: p.serial,
        notBeforeMs: p.notBeforeMs,
        notAfterMs: p.notAfterMs,
      });
    }
  }
});

test("cert facts: a serial with the high bit set keeps DER's sign byte; years past 2049", () => {
  const key = testKey("hi");
  const serial = Uint8Array.from([0x00, 0x9a, 0x01, 0x02, 0x03]);
  const dn = { commonName: "x", organization: "c1" };
  const der = buildCertificate(
    {
      serial,
      subject: dn,
      issuer: dn,
      notBeforeMs: TEST_NOW_MS,
      notAfterMs: Date.UTC(2060, 5, 1, 12, 30, 5),
      subjectCurve: "ed25519",
      subjectPublicKey: key.publicKey,
      isCA: false,
    },
    key,
  );
  const pem = toPem("CERTIFICATE", der);
  const p = parseCertificate(pem);
  assert.deepEqual(certFacts(pem), {
    serial: p.serial,
    notBeforeMs: p.notBeforeMs,
    notAfterMs: p.notAfterMs,
  });
});

test("cert facts: key pairing, and garbage is a typed error", () => {
  for (const curve of ["ed25519", "p256"] as const) {
    const n = testNodeCert(testRoot("c1", curve), "w1", "worker", { key: testKey("k", curve) });
    assert.equal(keyFitsCert(privateKeyToPem(n.key), n.certPem), true);
    assert.equal(keyFitsCert(privateKeyToPem(testKey("other", curve)), n.certPem), false);
    const otherCurve = curve === "p256" ? "ed25519" : "p256";
    assert.equal(keyFitsCert(privateKeyToPem(testKey("k", otherCurve)), n.certPem), false);
    assert.throws(
      () => keyFitsCert("-----BEGIN PRIVATE KEY-----\nAAAA\n", n.certPem),
      code("bad-key"),
    );
  }
  assert.throws(() => certFacts("not a certificate"), code("bad-certificate"));
  assert.throws(() => certFacts("x".repeat(1_000_000)), code("bad-certificate"));
});
