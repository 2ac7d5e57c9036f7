import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeMessage, encodeMessage } from "../core/codec/index.ts";
import { CryptoError } from "../core/crypto/errors.ts";
import { issueCertificate } from "../core/crypto/identity.ts";
import { privateKeyToPem } from "../core/crypto/keys.ts";
import {
  DAY_MS,
  TEST_NOW_MS,
  testBytes,
  testKey,
  testNodeCert,
  testRoot,
} from "../core/crypto/testing.ts";
import {
  CertificateRenewal,
  certPaths,
  loadMaterial,
  loadRenewalOps,
  type NodeMaterial,
} from "./renewal.ts";

// The csr code loads on the first renewal (renewal-lazy.test.ts covers that); loaded up front
// here so the short ticks below see each step at once.
await loadRenewalOps();

const root = testRoot("c1");

function files(material: NodeMaterial) {
  const dir = mkdtempSync(join(tmpdir(), "fleet-agent-renew-"));
  mkdirSync(join(dir, "certs"));
  const paths = certPaths(dir);
  writeFileSync(paths.ca, material.caPem);
  writeFileSync(paths.cert, material.certPem);
  writeFileSync(paths.key, material.keyPem);
  return { dir, paths };
}

function setup(nowMs: number, o: { window?: number } = {}) {
  const node = testNodeCert(root, "w1", "worker", { expiryMs: 10 * DAY_MS });
  const material = {
    caPem: root.certPem,
    certPem: node.certPem,
    keyPem: privateKeyToPem(node.key),
  };
  const { dir, paths } = files(material);
  const sent: Uint8Array[] = [];
  const swapped: string[] = [];
  let online = true;
  const clock = { now: nowMs };
  const r = new CertificateRenewal(
    {
      clusterId: "c1",
      nodeId: "w1",
      paths,
      link: {
        publish: (_t, p) => {
          if (online) sent.push(p);
          return online;
        },
        updateTls: (m) => swapped.push(m.cert),
      },
      now: () => clock.now,
      random: () => 0.5,
      randomBytes: (n) => testBytes(`renew-${sent.length}`, n),
      reenrolWindowMs: o.window ?? 5 * DAY_MS,
      retryMs: 60_000,
    },
    material,
  );
  const setOnline = (v: boolean) => {
    online = v;
  };
  return { r, node, dir, paths, sent, swapped, clock, setOnline };
}

/** The CA's answer to a csr: a certificate for the csr's key. */
function answer(csr: Uint8Array, nodeId = "w1", ca = root) {
  const d = decodeMessage(csr, "csr");
  assert.ok(d.ok);
  const issued = issueCertificate({
    ca,
    clusterId: "c1",
    nodeId,
    role: "worker",
    publicKey: d.message.publicKey,
    serialRandom: testBytes(`answer-${nodeId}`, 16),
    nowMs: TEST_NOW_MS + 6 * DAY_MS,
    expiryMs: 10 * DAY_MS,
  });
  return { body: encodeMessage("cert", { certPem: issued.certPem, caPem: ca.certPem }), issued };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

test("renewal: scheduled between 50% and 80% of the lifetime (here the middle, 65%)", () => {
  const { r, node, dir } = setup(TEST_NOW_MS);
  const life = node.notAfterMs - node.notBeforeMs;
  assert.equal(r.renewAtMs, node.notBeforeMs + Math.floor(life * 0.65));
  rmSync(dir, { recursive: true });
});

test("renewal: csr, answer checked, files written, TLS swapped; bad answers dropped", async () => {
  const { r, dir, paths, sent, swapped, clock, setOnline } = setup(TEST_NOW_MS + 6 * DAY_MS);
  setOnline(false);
  r.start();
  await tick();
  assert.equal(sent.length, 0, "offline: nothing sent (retried later)");
  setOnline(true);
  r.renewNow();
  await tick();
  assert.equal(sent.length, 1);
  const { body, issued } = answer(sent[0]!);
  // Another node's certificate, another CA's, garbage: dropped, nothing written.
  assert.equal(r.onCert(answer(sent[0]!, "w2").body), false);
  assert.equal(r.onCert(answer(sent[0]!, "w1", testRoot("other")).body), false);
  assert.equal(r.onCert(new Uint8Array([1, 2, 3])), false);
  assert.equal(r.stats.badAnswers, 3);
  assert.equal(swapped.length, 0);
  assert.equal(r.onCert(body), true);
  assert.equal(readFileSync(paths.cert, "utf8"), issued.certPem);
  assert.deepEqual(loadMaterial(paths), r.material);
  assert.deepEqual(swapped, [issued.certPem]);
  assert.equal(r.onCert(body), false, "a duplicate answer is not installed twice");
  // The next renewal is scheduled from the new certificate.
  assert.ok(r.renewAtMs > clock.now);
  r.stop();
  rmSync(dir, { recursive: true });
});

test("renewal: expired within the window re-enrols; past it, the node must join again", async () => {
  const within = setup(TEST_NOW_MS + 14 * DAY_MS); // expired 4 days ago, window 5
  within.r.start();
  await tick();
  assert.equal(within.sent.length, 1);
  within.r.stop();
  const past = setup(TEST_NOW_MS + 16 * DAY_MS);
  past.r.start();
  await tick();
  assert.equal(past.sent.length, 0);
  past.r.stop();
  rmSync(within.dir, { recursive: true });
  rmSync(past.dir, { recursive: true });
});

test("renewal: back after expiry, connect to re-enrol only, csr once ready, then normal", async () => {
  const back = setup(TEST_NOW_MS + 12 * DAY_MS, { window: 5 * DAY_MS }); // expired 2 days ago
  back.setOnline(false);
  back.r.start();
  await tick();
  assert.equal(back.sent.length, 0, "offline: nothing sent");
  assert.equal(back.r.reenrolling(), true);
  back.r.assertRenewable(); // within the window: no error
  back.setOnline(true);
  back.r.onReady(); // the restricted session is up and subscribed to its cert topic
  await tick();
  assert.equal(back.sent.length, 1, "csr sent as soon as the session is ready");
  back.r.onReady(); // a reconnect right after: no second csr within the CA's interval
  await tick();
  assert.equal(back.sent.length, 1);
  assert.equal(back.r.onCert(answer(back.sent[0]!).body), true);
  assert.equal(back.swapped.length, 1, "new material handed to the session");
  assert.equal(back.r.reenrolling(), false, "the new certificate connects normally");
  back.r.stop();
  rmSync(back.dir, { recursive: true });
});

test("renewal: past the window, a typed error tells the operator to join again", () => {
  const past = setup(TEST_NOW_MS + 16 * DAY_MS, { window: 5 * DAY_MS }); // expired 6 days ago
  assert.equal(past.r.reenrolling(), false);
  assert.throws(
    () => past.r.assertRenewable(),
    (err: Error & { code?: string }) =>
      err.code === "expired" && /join again with a token/.test(err.message),
  );
  const fresh = setup(TEST_NOW_MS + DAY_MS);
  fresh.r.assertRenewable();
  assert.equal(fresh.r.reenrolling(), false);
  rmSync(past.dir, { recursive: true });
  rmSync(fresh.dir, { recursive: true });
});

test("renewal: a crash between writing the key and the certificate keeps a matching pair", () => {
  const { node, dir, paths } = setup(TEST_NOW_MS);
  // The new key reached node.key, the new certificate never reached node.pem.
  writeFileSync(paths.prevKey, privateKeyToPem(node.key));
  writeFileSync(paths.key, privateKeyToPem(testKey("next")));
  assert.equal(loadMaterial(paths).keyPem, privateKeyToPem(node.key));
  rmSync(paths.prevKey);
  assert.throws(
    () => loadMaterial(paths),
    (e) => e instanceof CryptoError && e.code === "bad-key",
  );
  rmSync(dir, { recursive: true });
});
