// joinCluster against a stand-in manager (aedes over node:tls, core/crypto responder): the
// happy path, pinning (another CA, a forged leaf under the real root: the token never leaves),
// a wrong token, refusals, timeouts, failover along the manager list and bad certificates.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { WireNodeDescription } from "../../core/codec/messages.ts";
import { isSignedBy, parseCertificate } from "../../core/crypto/cert-read.ts";
import { caDigest } from "../../core/crypto/identity.ts";
import { privateKeyFromPem } from "../../core/crypto/keys.ts";
import { testBytes, testNodeCert, testRoot } from "../../core/crypto/testing.ts";
import { formatJoinToken } from "../../core/crypto/token.ts";
import { StandInManager, type StandInOptions } from "../../test/support/join-standin.ts";
import { freePort } from "../../test/support/real.ts";
import { type JoinOptions, joinCluster, parseManager } from "./client.ts";
import { JoinError } from "./errors.ts";

const root = testRoot("c1");
const evil = testRoot("evil");
const tokens = {
  worker: formatJoinToken(root.digest, testBytes("worker", 16)),
  manager: formatJoinToken(root.digest, testBytes("manager", 16)),
};
const description: WireNodeDescription = {
  hostname: "board-1",
  platform: { os: "linux", arch: "arm64" },
  resources: { nanoCPUs: 4e9, memoryBytes: 2 ** 30 },
  engineLabels: { "hw.board": "test" },
};
const started: StandInManager[] = [];
after(async () => {
  for (const m of started) await m.stop();
});

async function standIn(o: Partial<StandInOptions> = {}): Promise<StandInManager> {
  const m = await StandInManager.start({ root, tokens, ...o });
  started.push(m);
  return m;
}

function opts(managers: string[], o: Partial<JoinOptions> = {}): JoinOptions {
  return {
    token: tokens.worker,
    managers,
    description,
    connectTimeoutMs: 2000,
    responseTimeoutMs: 2000,
    rounds: 2,
    backoffBaseMs: 10,
    backoffMaxMs: 20,
    ...o,
  };
}

async function refused(p: Promise<unknown>, code: string): Promise<JoinError> {
  const err = await p.then(
    () => assert.fail("join should have failed"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof JoinError, `expected a JoinError, got ${err}`);
  assert.equal(err.code, code, err.message);
  return err;
}

test("joins: certificate for its own key, signed by the pinned root, naming the cluster", async () => {
  const m = await standIn({ brokers: ["mqtts://10.0.0.2:8883", `mqtts://${"127.0.0.1"}:1`] });
  const r = await joinCluster(opts([m.address], { expectRole: "worker" }));
  assert.equal(r.clusterId, "c1");
  assert.equal(r.role, "worker");
  assert.equal(r.nodeId, "node-1");
  const cert = parseCertificate(r.certPem);
  assert.ok(isSignedBy(cert, root.cert));
  assert.deepEqual(cert.publicKey, privateKeyFromPem(r.keyPem).publicKey);
  assert.equal(caDigest(r.caPem), root.digest);
  assert.deepEqual(r.brokers, [
    `mqtts://127.0.0.1:${m.port}`,
    "mqtts://10.0.0.2:8883",
    "mqtts://127.0.0.1:1",
  ]);
  // The joining session: fleet-join, the token, the request id as client id, under c1.
  assert.equal(m.connects.length, 1);
  const c = m.connects[0]!;
  assert.equal(c.username, "fleet-join");
  assert.equal(c.password, tokens.worker);
  assert.equal(m.requests.length, 1);
  assert.equal(m.requests[0]!.requestId, c.clientId);
  assert.equal(m.requests[0]!.body.description.hostname, "board-1");
  assert.deepEqual(m.refused, []);
});

test("a broker with another CA never sees the token (CA digest mismatch)", async () => {
  const mitm = await standIn({ presented: evil });
  const err = await refused(joinCluster(opts([mitm.address])), "ca-mismatch");
  assert.match(err.message, /digest|pinned/);
  assert.equal(mitm.connects.length, 0);
});

test("a leaf from another CA next to the real root is refused too", async () => {
  const mitm = await standIn({ presented: evil, presentedRootPem: root.certPem });
  await refused(joinCluster(opts([mitm.address])), "ca-mismatch");
  assert.equal(mitm.connects.length, 0);
});

test("an impostor first in the list is skipped; the real manager answers", async () => {
  const mitm = await standIn({ presented: evil });
  const m = await standIn();
  const r = await joinCluster(opts([mitm.address, m.address]));
  assert.equal(r.clusterId, "c1");
  assert.equal(mitm.connects.length, 0);
  assert.equal(r.brokers[0], `mqtts://127.0.0.1:${m.port}`);
});

test("a wrong token: the broker refuses the session, no retries", async () => {
  const m = await standIn();
  const bad = formatJoinToken(root.digest, testBytes("guess", 16));
  await refused(joinCluster(opts([m.address], { token: bad })), "wrong-token");
  assert.equal(m.connects.length, 1);
  assert.equal(m.requests.length, 0);
});

test("brokers that hang up on the token without a CONNACK: wrong-token once all did", async () => {
  const a = await standIn({ hangUp: true });
  const b = await standIn({ hangUp: true });
  const bad = formatJoinToken(root.digest, testBytes("guess2", 16));
  const err = await refused(
    joinCluster(opts([a.address, b.address], { token: bad })),
    "wrong-token",
  );
  assert.match(err.message, /4 attempts/);
  assert.equal(a.connects.length + b.connects.length, 4);
  // One of them merely unreachable: no claim about the token.
  const closed = await freePort();
  const o = opts([a.address, `127.0.0.1:${closed}`], { token: bad, rounds: 1 });
  await refused(joinCluster(o), "unreachable");
});

test("a malformed token is refused before any connection", async () => {
  const m = await standIn();
  await refused(joinCluster(opts([m.address], { token: "FLT1-nope" })), "bad-token");
  assert.equal(m.connects.length, 0);
});

test("an error answer ends the join; a retry answer is retried", async () => {
  const no = await standIn({
    respond: () => ({ ok: false, error: "node id removed", code: "removed" }),
  });
  const err = await refused(joinCluster(opts([no.address])), "refused");
  assert.match(err.message, /node id removed/);
  assert.equal(no.requests.length, 1);
  let n = 0;
  const busy = await standIn({
    respond: (_req, issue) =>
      n++ === 0 ? { ok: false, error: "no leader", retry: true } : issue(),
  });
  const r = await joinCluster(opts([busy.address]));
  assert.equal(busy.requests.length, 2);
  // Each attempt is a fresh request with a fresh key (a lost answer is no replay).
  assert.notDeepEqual(busy.requests[0]!.body.publicKey, busy.requests[1]!.body.publicKey);
  assert.notEqual(busy.requests[0]!.requestId, busy.requests[1]!.requestId);
  assert.equal(r.nodeId, "node-1");
});

test("no answer: bounded by the response timeout and the rounds", async () => {
  const m = await standIn({ respond: () => undefined });
  const err = await refused(
    joinCluster(opts([m.address], { responseTimeoutMs: 200, rounds: 3 })),
    "timeout",
  );
  assert.match(err.message, /3 attempts/);
  assert.equal(m.requests.length, 3);
});

test("an unreachable manager is skipped for the next one", async () => {
  const closed = await freePort();
  const m = await standIn();
  const r = await joinCluster(opts([`127.0.0.1:${closed}`, m.address]));
  assert.equal(r.brokers[0], `mqtts://127.0.0.1:${m.port}`);
  assert.equal(r.brokers[1], `mqtts://127.0.0.1:${closed}`);
  await refused(joinCluster(opts([`127.0.0.1:${closed}`], { rounds: 2 })), "unreachable");
});

test("certificates that are not ours are refused", async () => {
  const otherKey = await standIn({
    respond: (_req, issue) => ({ ...issue(), certPem: testNodeCert(root, "node-1").certPem }),
  });
  await refused(joinCluster(opts([otherKey.address])), "bad-response");
  const forged = await standIn({
    respond: (req, issue) => {
      const good = issue();
      const key = {
        curve: "ed25519" as const,
        publicKey: req.body.publicKey,
        secretKey: new Uint8Array(32),
      };
      const bad = testNodeCert(evil, good.nodeId ?? "x", "worker", { key });
      return { ...good, certPem: bad.certPem };
    },
  });
  const err = await refused(joinCluster(opts([forged.address])), "bad-response");
  assert.match(err.message, /pinned CA/);
  const badCa = await standIn({ respond: (_req, issue) => ({ ...issue(), caPem: evil.certPem }) });
  await refused(joinCluster(opts([badCa.address])), "bad-response");
});

test("a manager token where a worker is expected is refused", async () => {
  const m = await standIn();
  const o = opts([m.address], { token: tokens.manager, expectRole: "worker" });
  await refused(joinCluster(o), "wrong-token");
  const r = await joinCluster(opts([m.address], { token: tokens.manager }));
  assert.equal(r.role, "manager");
});

test("manager addresses", () => {
  assert.deepEqual(parseManager("m1"), { host: "m1", port: 8883 });
  assert.deepEqual(parseManager("10.0.0.1:1883"), { host: "10.0.0.1", port: 1883 });
  assert.deepEqual(parseManager("mqtts://m1:9000"), { host: "m1", port: 9000 });
  assert.deepEqual(parseManager("[::1]:8883"), { host: "::1", port: 8883 });
  for (const bad of ["", "m1:0", "m1:99999", "mqtt://m1:1883", "a b"])
    assert.throws(() => parseManager(bad), JoinError, bad);
});

test("a P-256 cluster: the pinned root's curve is the node key's", async () => {
  const p256Root = testRoot("c-p256", "p256");
  const p256Tokens = {
    worker: formatJoinToken(p256Root.digest, testBytes("pw", 16)),
    manager: formatJoinToken(p256Root.digest, testBytes("pm", 16)),
  };
  const m = await standIn({ root: p256Root, tokens: p256Tokens });
  const r = await joinCluster(opts([m.address], { token: p256Tokens.worker }));
  assert.equal(privateKeyFromPem(r.keyPem).curve, "p256");
  assert.equal(parseCertificate(r.certPem).curve, "p256");
  assert.equal(r.clusterId, "c-p256");
});
