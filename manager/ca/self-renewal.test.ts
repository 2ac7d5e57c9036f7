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

test("a role change reissues at once: demoted gets a worker certificate on disk, kept out of use; promoted back swaps in a manager one", async () => {
  const w = testWorld({ nodes: [managerNode("m2", "manager-2")] });
  const { ca } = CertificateAuthority.create({ clusterId: "c1" });
  const dir = mkdtempSync(join(tmpdir(), "fleet-role-reissue-"));
  mkdirSync(join(dir, "certs"));
  const key = testKey("m2");
  const first = ca.issue("m2", "manager", key.publicKey, { ipAddresses: ["127.0.0.1"] });
  writeFileSync(join(dir, "certs", "ca.pem"), ca.root.certPem);
  writeFileSync(join(dir, "certs", "node.pem"), first.certPem);
  writeFileSync(join(dir, "certs", "node.key"), privateKeyToPem(key));
  const swapped: NodeMaterial[] = [];
  const onDisk = () => parseCertificate(readFileSync(join(dir, "certs", "node.pem"), "utf8"));
  const record = () =>
    w.store.view((tx) => tx.get("nodes", "m2"))?.certificate as
      | { serial: string; role?: string; superseded?: { serial: string }[] }
      | undefined;
  const setRole = (role: "worker" | "manager") =>
    w.ctx.writer.update((tx) => {
      const n = tx.get("nodes", "m2")!;
      tx.update("nodes", { ...n, spec: { ...n.spec, role } });
    });
  const r = startManagerRenewal({
    dataDir: dir,
    clusterId: "c1",
    nodeId: "m2",
    store: w.store,
    writer: w.ctx.writer,
    ca: () => ca,
    swap: (m) => swapped.push(m),
    log: createLogger("test", { level: "error", write: () => {} }),
    retryMs: 50,
    roleCheckMs: 20,
  })!;
  try {
    // The founder's certificate was never recorded: it is now, with its role.
    await until("first certificate recorded", () => record()?.serial === first.serial);
    assert.equal(record()?.role, "manager");

    await setRole("worker");
    await until(
      "worker certificate on disk",
      () => onDisk().subject.organizationalUnit === "worker",
    );
    const worker = onDisk();
    assert.notEqual(worker.serial, first.serial);
    assert.deepEqual(worker.ipAddresses, [], "no manager names on a worker certificate");
    assert.equal(swapped.length, 0, "the manager certificate stays in use while in the group");
    await until("worker recorded", () => record()?.serial === worker.serial);
    assert.equal(record()?.role, "worker");
    assert.deepEqual(
      record()?.superseded?.map((c) => c.serial),
      [first.serial],
      "the manager certificate waits in superseded for the leader to revoke it",
    );

    // The demotion undone while still a member: a manager certificate again, swapped in.
    await setRole("manager");
    await until("manager certificate again", () => swapped.length === 1);
    const back = onDisk();
    assert.equal(back.subject.organizationalUnit, "manager");
    assert.deepEqual(back.ipAddresses, ["127.0.0.1"]);
    assert.equal(swapped[0]!.certPem, readFileSync(join(dir, "certs", "node.pem"), "utf8"));
    await until("manager recorded", () => record()?.serial === back.serial);
    assert.deepEqual(
      record()
        ?.superseded?.map((c) => c.serial)
        .sort(),
      [first.serial, worker.serial].sort(),
    );
  } finally {
    r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
