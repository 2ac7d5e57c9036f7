import assert from "node:assert/strict";
import { test } from "node:test";
import { buildCrl, readCrl } from "./crl.ts";
import { CryptoError } from "./errors.ts";
import { DAY_MS, TEST_NOW_MS, testNodeCert, testRoot } from "./testing.ts";

for (const curve of ["ed25519", "p256"] as const) {
  test(`${curve}: a CRL lists revoked serials and is signed by the root`, () => {
    const root = testRoot("c1", curve);
    const a = testNodeCert(root, "w1");
    const b = testNodeCert(root, "w2");
    const pem = buildCrl({
      ca: root,
      revoked: [a, b].map((c) => ({ serial: c.serial, revokedAtMs: TEST_NOW_MS })),
      thisUpdateMs: TEST_NOW_MS,
      nextUpdateMs: TEST_NOW_MS + 7 * DAY_MS,
      crlNumber: 3,
    });
    assert.match(pem, /^-----BEGIN X509 CRL-----/);
    const read = readCrl(pem, root.cert);
    assert.deepEqual(read.serials, [a.serial, b.serial]);
    assert.equal(read.nextUpdateMs, TEST_NOW_MS + 7 * DAY_MS);
    assert.throws(() => readCrl(pem, testRoot("c2", curve).cert), CryptoError);
    assert.throws(() => readCrl("junk", root.cert), CryptoError);
  });
}

test("an empty CRL is valid", () => {
  const root = testRoot();
  const pem = buildCrl({
    ca: root,
    revoked: [],
    thisUpdateMs: 0,
    nextUpdateMs: DAY_MS,
    crlNumber: 1,
  });
  assert.deepEqual(readCrl(pem, root.cert).serials, []);
});
