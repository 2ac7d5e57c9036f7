// The renewal's X.509 and signature code (renewal-ops.ts) is not loaded until a csr is due; a
// process of its own (node:test runs each file in one) sees the first renewal load it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeMessage } from "../core/codec/index.ts";
import { privateKeyToPem } from "../core/crypto/keys.ts";
import { DAY_MS, TEST_NOW_MS, testNodeCert, testRoot } from "../core/crypto/testing.ts";
import { CertificateRenewal, certPaths, loadMaterial } from "./renewal.ts";

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("renewal: the first due csr loads the certificate code and goes out", async () => {
  const root = testRoot("c1");
  const node = testNodeCert(root, "w1", "worker", { expiryMs: 10 * DAY_MS });
  const dir = mkdtempSync(join(tmpdir(), "fleet-agent-renew-lazy-"));
  mkdirSync(join(dir, "certs"));
  const paths = certPaths(dir);
  writeFileSync(paths.ca, root.certPem);
  writeFileSync(paths.cert, node.certPem);
  writeFileSync(paths.key, privateKeyToPem(node.key));
  const sent: Uint8Array[] = [];
  const r = new CertificateRenewal(
    {
      clusterId: "c1",
      nodeId: "w1",
      paths,
      link: { publish: (_t, p) => sent.push(p) > 0, updateTls: () => {} },
      now: () => TEST_NOW_MS + 9 * DAY_MS, // past 80% of the lifetime: due
      retryMs: 600_000,
    },
    loadMaterial(paths),
  );
  assert.equal(r.notAfterMs, node.notAfterMs);
  r.start();
  await until("the csr", () => sent.length > 0);
  r.stop();
  assert.equal(sent.length, 1);
  const csr = decodeMessage(sent[0]!, "csr");
  assert.ok(csr.ok);
  assert.equal(csr.message.certPem, node.certPem);
  rmSync(dir, { recursive: true });
});
