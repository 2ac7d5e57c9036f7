import assert from "node:assert/strict";
import { test } from "node:test";
import { CryptoError } from "./errors.ts";
import {
  joinChallenge,
  signJoinRequest,
  signRenewal,
  verifyJoinProof,
  verifyRenewalProof,
} from "./proof.ts";
import { testBytes, testKey, testNodeCert, testRoot } from "./testing.ts";
import {
  formatJoinToken,
  matchJoinToken,
  parseJoinToken,
  pinCA,
  tokenSecretHash,
  verifyPinnedChain,
} from "./token.ts";

const code = (c: string) => (err: unknown) => err instanceof CryptoError && err.code === c;
const root = testRoot("c1");
const workerToken = formatJoinToken(root.digest, testBytes("worker", 16));
const managerToken = formatJoinToken(root.digest, testBytes("manager", 16));
const hashes = {
  worker: tokenSecretHash(parseJoinToken(workerToken).secret),
  manager: tokenSecretHash(parseJoinToken(managerToken).secret),
};

test("token format: FLT1-<sha256 of the CA>-<128-bit secret>", () => {
  assert.match(workerToken, /^FLT1-[0-9a-f]{64}-[0-9a-f]{32}$/);
  assert.equal(parseJoinToken(workerToken).caDigest, root.digest);
  for (const bad of [
    "",
    "FLT1",
    "FLT2-x-y",
    `FLT1-${root.digest}-abc`,
    `${workerToken}0`,
    "x".repeat(300),
  ])
    assert.throws(() => parseJoinToken(bad), code("bad-token"));
});

test("the token's secret picks the role; a rotated or foreign token is refused", () => {
  assert.equal(matchJoinToken(parseJoinToken(workerToken), hashes, root.digest), "worker");
  assert.equal(matchJoinToken(parseJoinToken(managerToken), hashes, root.digest), "manager");
  const rotated = {
    ...hashes,
    worker: tokenSecretHash(
      parseJoinToken(formatJoinToken(root.digest, testBytes("w2", 16))).secret,
    ),
  };
  assert.throws(
    () => matchJoinToken(parseJoinToken(workerToken), rotated, root.digest),
    code("wrong-token"),
  );
  const foreign = testRoot("c2");
  assert.throws(
    () => matchJoinToken(parseJoinToken(workerToken), hashes, foreign.digest),
    code("ca-mismatch"),
  );
});

test("pinCA accepts only the CA whose digest the token carries", () => {
  assert.equal(pinCA(root.certPem, root.digest).subject.organization, "c1");
  assert.throws(() => pinCA(testRoot("c2").certPem, root.digest), code("ca-mismatch"));
  assert.throws(
    () => pinCA("garbage", root.digest),
    (e) => e instanceof CryptoError,
  );
});

for (const curve of ["ed25519", "p256"] as const) {
  test(`${curve}: join proof binds token, request id and key`, () => {
    const key = testKey("joiner", curve);
    const req = signJoinRequest(key, workerToken, "r1");
    assert.equal(verifyJoinProof(req, "r1").secret, parseJoinToken(workerToken).secret);
    assert.throws(() => verifyJoinProof(req, "r2"), code("bad-proof"), "moved to another request");
    assert.throws(() => verifyJoinProof({ ...req, token: managerToken }, "r1"), code("bad-proof"));
    const other = testKey("other", curve).publicKey;
    assert.throws(() => verifyJoinProof({ ...req, publicKey: other }, "r1"), code("bad-proof"));
    const garbage = { ...req, proof: new Uint8Array(64) };
    assert.throws(() => verifyJoinProof(garbage, "r1"), code("bad-proof"));
    assert.throws(
      () => verifyJoinProof({ ...req, publicKey: new Uint8Array(31) }, "r1"),
      code("bad-key"),
    );
    assert.equal(joinChallenge(parseJoinToken(workerToken), "r1", key.publicKey).length, 32);
  });

  test(`${curve}: renewal proof needs both the certified key and the new key`, () => {
    const current = testKey("cur", curve);
    const next = testKey("next", curve);
    const subject = { clusterId: "c1", nodeId: "n1", serial: "4001" };
    const req = signRenewal(current, next, subject);
    verifyRenewalProof(req, subject, current.publicKey);
    assert.throws(() => verifyRenewalProof(req, subject, next.publicKey), code("bad-proof"));
    assert.throws(
      () => verifyRenewalProof(req, { ...subject, serial: "4002" }, current.publicKey),
      code("bad-proof"),
    );
    assert.throws(
      () => verifyRenewalProof(req, { ...subject, nodeId: "n2" }, current.publicKey),
      code("bad-proof"),
    );
    const swapped = { ...req, keyProof: req.proof };
    assert.throws(() => verifyRenewalProof(swapped, subject, current.publicKey), code("bad-proof"));
  });
}

test("a joining node accepts a broker only with the pinned root and a manager leaf", () => {
  const digest = root.digest;
  const manager = testNodeCert(root, "m1", "manager");
  const worker = testNodeCert(root, "w1", "worker");
  const other = testRoot("c2");
  const otherManager = testNodeCert(other, "m1", "manager");
  assert.equal(
    verifyPinnedChain([manager.certPem, root.certPem], digest).subject.organization,
    "c1",
  );
  assert.throws(() => verifyPinnedChain([manager.certPem], digest), code("ca-mismatch"));
  assert.throws(
    () => verifyPinnedChain([worker.certPem, root.certPem], digest),
    code("ca-mismatch"),
  );
  assert.throws(
    () => verifyPinnedChain([otherManager.certPem, other.certPem], digest),
    code("ca-mismatch"),
  );
  assert.throws(
    () => verifyPinnedChain([otherManager.certPem, root.certPem], digest),
    code("ca-mismatch"),
  );
  assert.throws(() => verifyPinnedChain([], digest), code("ca-mismatch"));
  assert.throws(
    () => verifyPinnedChain(["junk", root.certPem], digest),
    (e) => e instanceof CryptoError,
  );
});
