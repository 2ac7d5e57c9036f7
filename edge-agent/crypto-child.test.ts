// The renewal's crypto in a child process (`edge-agent _crypto`, run here from the sources with
// this process's tsx loader): a csr built and an answer checked there, the certificate installed
// here; a wrong answer comes back as a typed CryptoError; a child that fails or hangs is a
// CryptoChildError and the renewal retries later.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeMessage, encodeMessage } from "../core/codec/index.ts";
import { CryptoError } from "../core/crypto/errors.ts";
import { issueCertificate } from "../core/crypto/identity.ts";
import { privateKeyToPem } from "../core/crypto/keys.ts";
import { DAY_MS, TEST_NOW_MS, testBytes, testNodeCert, testRoot } from "../core/crypto/testing.ts";
import { type ChildCommand, CryptoChildError, childCrypto, runInChild } from "./crypto-child.ts";
import { CertificateRenewal, certPaths } from "./renewal.ts";

const main = fileURLToPath(new URL("./main.ts", import.meta.url));
const self: ChildCommand = {
  file: process.execPath,
  args: [...process.execArgv.filter((a) => !a.startsWith("--test")), main, "_crypto"],
};
const root = testRoot("c1");

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function answer(csr: Uint8Array, nodeId = "w1") {
  const d = decodeMessage(csr, "csr");
  assert.ok(d.ok);
  const issued = issueCertificate({
    ca: root,
    clusterId: "c1",
    nodeId,
    role: "worker",
    publicKey: d.message.publicKey,
    serialRandom: testBytes(`answer-${nodeId}`, 16),
    nowMs: TEST_NOW_MS + 6 * DAY_MS,
    expiryMs: 10 * DAY_MS,
  });
  return { body: encodeMessage("cert", { certPem: issued.certPem, caPem: root.certPem }), issued };
}

test("crypto child: csr built and answer checked in a child; a wrong answer is dropped", async () => {
  const node = testNodeCert(root, "w1", "worker", { expiryMs: 10 * DAY_MS });
  const material = {
    caPem: root.certPem,
    certPem: node.certPem,
    keyPem: privateKeyToPem(node.key),
  };
  const dir = mkdtempSync(join(tmpdir(), "fleet-crypto-child-"));
  mkdirSync(join(dir, "certs"));
  const paths = certPaths(dir);
  writeFileSync(paths.ca, material.caPem);
  writeFileSync(paths.cert, material.certPem);
  writeFileSync(paths.key, material.keyPem);
  const sent: Uint8Array[] = [];
  const renewed: string[] = [];
  const r = new CertificateRenewal(
    {
      clusterId: "c1",
      nodeId: "w1",
      paths,
      link: { publish: (_t, p) => sent.push(p) > 0, updateTls: () => {} },
      now: () => TEST_NOW_MS + 6 * DAY_MS,
      // Renew at 50% of the lifetime: due now, at 60% (Math.random made this a 1-in-3 pass).
      random: () => 0,
      retryMs: 600_000,
      crypto: childCrypto({ command: self }),
      onRenewed: (m) => renewed.push(m.serial),
    },
    material,
  );
  try {
    r.start();
    await until("the csr", () => sent.length === 1);
    const csr = decodeMessage(sent[0]!, "csr");
    assert.ok(csr.ok);
    assert.equal(csr.message.role, "worker");
    // Another node's certificate: the child's CryptoError, the answer dropped.
    assert.equal(r.onCert(answer(sent[0]!, "w2").body), false);
    await until("the wrong answer dropped", () => r.stats.badAnswers === 1);
    const { body, issued } = answer(sent[0]!);
    assert.equal(r.onCert(body), false, "checked in the background");
    await until("the install", () => renewed.length === 1);
    assert.equal(readFileSync(paths.cert, "utf8"), issued.certPem);
    assert.equal(r.material.certPem, issued.certPem);
    assert.notEqual(r.material.keyPem, material.keyPem);
    assert.equal(r.stats.renewed, 1);
  } finally {
    r.stop();
    rmSync(dir, { recursive: true });
  }
});

test("crypto child: typed errors for a bad request, a failing child and a hung one", async () => {
  await assert.rejects(
    childCrypto({ command: self }).check({
      caPem: "garbage",
      certPem: "garbage",
      nodeId: "w1",
      nextKeyPem: "garbage",
      nowMs: TEST_NOW_MS,
    }) as Promise<void>,
    (e: unknown) => e instanceof CryptoError,
  );
  const exits: ChildCommand = { file: process.execPath, args: ["-e", "process.exit(3)"] };
  await assert.rejects(
    runInChild({ op: "check" } as never, { timeoutMs: 30_000, command: exits }),
    (e: unknown) => e instanceof CryptoChildError && e.code === "failed",
  );
  const hangs: ChildCommand = {
    file: process.execPath,
    args: ["-e", "setInterval(() => {}, 1000)"],
  };
  await assert.rejects(
    runInChild({ op: "check" } as never, { timeoutMs: 300, command: hangs }),
    (e: unknown) => e instanceof CryptoChildError && e.code === "timeout",
  );
});
