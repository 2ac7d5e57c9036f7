import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import type { KeyPair } from "../../core/crypto/keys.ts";
import { signRenewal } from "../../core/crypto/proof.ts";
import { DAY_MS, TEST_NOW_MS, testBytes, testKey } from "../../core/crypto/testing.ts";
import { topics } from "../../core/topics.ts";
import { MemoryBroker } from "../dispatcher/bus.ts";
import { CertificateAuthority, type NodeRecord } from "./ca.ts";
import { type IssuedRecord, RenewalService } from "./renewal-service.ts";

const t = topics("c1");

function setup() {
  const clock = { now: TEST_NOW_MS };
  let n = 0;
  const { ca } = CertificateAuthority.create({
    clusterId: "c1",
    now: () => clock.now,
    randomBytes: (k) => testBytes(`rs-${n++}`, k),
  });
  ca.nodeCertExpiryMs = 10 * DAY_MS;
  ca.reenrolWindowMs = 5 * DAY_MS;
  const nodes = new Map<string, NodeRecord>([
    ["w1", { role: "worker" }],
    ["w2", { role: "worker" }],
  ]);
  const broker = new MemoryBroker();
  const recorded: IssuedRecord[] = [];
  let locked = false;
  const service = new RenewalService({
    bus: broker.client(),
    clusterId: "c1",
    ca: () => (locked ? undefined : ca),
    node: (id) => nodes.get(id),
    record: async (r) => {
      recorded.push(r);
    },
    now: () => clock.now,
  });
  const lock = (v: boolean) => {
    locked = v;
  };
  return { ca, clock, nodes, broker, recorded, service, lock };
}

function csrFor(ca: CertificateAuthority, nodeId: string, key: KeyPair, next: KeyPair) {
  const issued = ca.issue(nodeId, "worker", key.publicKey);
  const proof = signRenewal(key, next, { clusterId: "c1", nodeId, serial: issued.serial });
  const body = encodeMessage("csr", { ...proof, role: "worker", certPem: issued.certPem });
  return { issued, body };
}

/** Waits for queued microtask deliveries of the memory broker. */
const settle = () => new Promise((r) => setImmediate(r));

test("renewal service: a valid csr gets a certificate for the new key on n/<id>/cert", async () => {
  const { ca, broker, recorded, service } = setup();
  await service.start();
  const answers: Uint8Array[] = [];
  await broker.client().subscribe(t.cert("w1"), (_t, p) => answers.push(p));
  const { issued, body } = csrFor(ca, "w1", testKey("w1"), testKey("w1-next"));
  await broker.client().publish(t.csr("w1"), body, { qos: 1, retain: false });
  await settle();
  await settle();
  assert.equal(answers.length, 1);
  const d = decodeMessage(answers[0]!, "cert");
  assert.ok(d.ok);
  const cert = parseCertificate(d.message.certPem);
  assert.deepEqual(cert.publicKey, testKey("w1-next").publicKey);
  assert.notEqual(cert.serial, issued.serial);
  assert.equal(d.message.caPem, ca.root.certPem);
  assert.deepEqual(
    recorded.map((r) => [r.nodeId, r.serial, r.reenrolled]),
    [["w1", cert.serial, false]],
  );
  assert.equal(service.stats.issued, 1);
  await service.stop();
});

test("renewal service: re-enrols within the window, refuses past it", () => {
  const { ca, clock, service } = setup();
  const within = csrFor(ca, "w1", testKey("w1"), testKey("w1b"));
  const past = csrFor(ca, "w2", testKey("w2"), testKey("w2b"));
  clock.now += 10 * DAY_MS + 4 * DAY_MS; // expired 4 days ago; the window is 5
  assert.equal(service.handle(t.csr("w1"), within.body), true);
  assert.equal(service.stats.reenrolled, 1);
  clock.now += 2 * DAY_MS; // w2 is now 6 days past expiry
  assert.equal(service.handle(t.csr("w2"), past.body), false);
  assert.equal(service.stats.refused.expired, 1);
});

test("renewal service: removed and revoked nodes, foreign certificates, garbage: refused", () => {
  const { ca, clock, nodes, service, lock } = setup();
  const a = csrFor(ca, "w1", testKey("w1"), testKey("w1b"));
  nodes.delete("w1");
  assert.equal(service.handle(t.csr("w1"), a.body), false);
  assert.equal(service.stats.refused.removed, 1);

  const b = csrFor(ca, "w2", testKey("w2"), testKey("w2b"));
  ca.removeNode("w2", [{ serial: b.issued.serial, notAfterMs: b.issued.notAfterMs }]);
  assert.equal(service.handle(t.csr("w2"), b.body), false);
  assert.equal(service.stats.refused.revoked, 1);

  // w3's certificate sent on w4's topic (the broker would not allow it; the CA refuses anyway).
  nodes.set("w3", { role: "worker" }).set("w4", { role: "worker" });
  const c = csrFor(ca, "w3", testKey("w3"), testKey("w3b"));
  assert.equal(service.handle(t.csr("w4"), c.body), false);
  assert.equal(service.stats.refused["wrong-identity"], 1);

  clock.now += 60_000;
  assert.equal(service.handle(t.csr("w3"), new Uint8Array([0xa1, 0x01])), false);
  assert.equal(service.handle(t.assign("w3"), c.body), false); // not a csr topic: ignored
  assert.equal(service.stats.refused["bad-message"], 1);

  // A signature by the wrong key: the proofs are checked.
  const forged = csrFor(ca, "w3", testKey("someone-else"), testKey("w3c"));
  const wrong = decodeMessage(forged.body, "csr");
  assert.ok(wrong.ok);
  const good = decodeMessage(c.body, "csr");
  assert.ok(good.ok);
  const mixed = encodeMessage("csr", { ...wrong.message, certPem: good.message.certPem });
  clock.now += 60_000;
  assert.equal(service.handle(t.csr("w3"), mixed), false);
  assert.equal(service.stats.refused["bad-proof"], 1);

  clock.now += 60_000;
  lock(true);
  assert.equal(service.handle(t.csr("w3"), c.body), false);
  assert.equal(service.stats.refused.locked, 1);
  lock(false);
  assert.equal(service.handle(t.csr("w3"), c.body), true);
  assert.equal(service.stats.issued, 1);
});

test("renewal service: one answer per node per interval", () => {
  const { ca, clock, service } = setup();
  const a = csrFor(ca, "w1", testKey("w1"), testKey("w1b"));
  assert.equal(service.handle(t.csr("w1"), a.body), true);
  assert.equal(service.handle(t.csr("w1"), a.body), false);
  assert.equal(service.stats.refused["too-often"], 1);
  clock.now += 10_000;
  assert.equal(service.handle(t.csr("w1"), a.body), true);
});
