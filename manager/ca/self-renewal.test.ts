import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { privateKeyFromPem, privateKeyToPem } from "../../core/crypto/keys.ts";
import { testKey } from "../../core/crypto/testing.ts";
import type { NodeMaterial } from "../../edge-agent/renewal.ts";
import { managerNode, testWorld } from "../api/testing.ts";
import { createLogger } from "../log.ts";
import { CertificateAuthority } from "./ca.ts";
import { startManagerRenewal } from "./self-renewal.ts";

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a manager renews its own certificate with the CA it holds; waits while it is locked", async () => {
  const w = testWorld({ nodes: [managerNode("m1", "manager-1")] });
  const { ca } = CertificateAuthority.create({ clusterId: "c1" });
  const dir = mkdtempSync(join(tmpdir(), "fleet-self-renew-"));
  mkdirSync(join(dir, "certs"));
  const key = testKey("m1");
  const first = ca.issue("m1", "manager", key.publicKey, { ipAddresses: ["127.0.0.1"] });
  writeFileSync(join(dir, "certs", "ca.pem"), ca.root.certPem);
  writeFileSync(join(dir, "certs", "node.pem"), first.certPem);
  writeFileSync(join(dir, "certs", "node.key"), privateKeyToPem(key));
  let locked = true;
  const swapped: NodeMaterial[] = [];
  const renewal = startManagerRenewal({
    dataDir: dir,
    clusterId: "c1",
    nodeId: "m1",
    store: w.store,
    writer: w.ctx.writer,
    ca: () => (locked ? undefined : ca),
    swap: (m) => swapped.push(m),
    log: createLogger("test", { level: "error", write: () => {} }),
    retryMs: 50,
  })!;
  try {
    renewal.renewNow();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(swapped.length, 0, "no renewal while the CA is locked");
    locked = false;
    await until("renewed", () => swapped.length === 1);
    const cert = parseCertificate(readFileSync(join(dir, "certs", "node.pem"), "utf8"));
    assert.equal(swapped[0]!.certPem, readFileSync(join(dir, "certs", "node.pem"), "utf8"));
    assert.notEqual(cert.serial, first.serial);
    assert.equal(cert.subject.organizationalUnit, "manager");
    assert.deepEqual(cert.ipAddresses, ["127.0.0.1"]);
    const onDisk = privateKeyFromPem(readFileSync(join(dir, "certs", "node.key"), "utf8"));
    assert.deepEqual(onDisk.publicKey, cert.publicKey);
    await until(
      "serial recorded",
      () => w.store.view((tx) => tx.get("nodes", "m1"))?.certificate?.serial === cert.serial,
    );
  } finally {
    renewal.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
