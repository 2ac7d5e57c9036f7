// The agent's re-enrolment window (edge-agent/renewal.ts): the cluster's value from an
// assignment replaces the default at once, is kept in <data-dir>/reenrol-window.json only when
// it changed, and decides reenrolling() / assertRenewable(); a damaged or out-of-range file is
// ignored (the default then).

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { privateKeyToPem } from "../core/crypto/keys.ts";
import { DAY_MS, TEST_NOW_MS, testNodeCert, testRoot } from "../core/crypto/testing.ts";
import { limits } from "../core/limits.ts";
import { JoinError } from "./join/errors.ts";
import {
  CertificateRenewal,
  certPaths,
  loadReenrolWindow,
  REENROL_WINDOW_FILE,
} from "./renewal.ts";

const root = testRoot("c1");
const node = testNodeCert(root, "w1", "worker", { expiryMs: 10 * DAY_MS });
const material = { caPem: root.certPem, certPem: node.certPem, keyPem: privateKeyToPem(node.key) };

function renewal(dir: string, nowMs: number, logs: string[] = []) {
  const windowFile = join(dir, REENROL_WINDOW_FILE);
  const kept = loadReenrolWindow(windowFile);
  return new CertificateRenewal(
    {
      clusterId: "c1",
      nodeId: "w1",
      paths: certPaths(dir),
      link: { publish: () => false, updateTls: () => {} },
      now: () => nowMs,
      windowFile,
      log: (l) => logs.push(l),
      ...(kept !== undefined ? { reenrolWindowMs: kept } : {}),
    },
    material,
  );
}

test("the learned window decides, and a restarted agent still knows it", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-agent-window-"));
  try {
    const fiveDaysPast = node.notAfterMs + 5 * DAY_MS;
    const logs: string[] = [];
    const r = renewal(dir, fiveDaysPast, logs);
    assert.equal(r.reenrolWindowMs, limits.reenrolWindowMsDefault);
    assert.equal(r.reenrolling(), true);
    r.setReenrolWindow(limits.reenrolWindowMsDefault);
    assert.equal(existsSync(join(dir, REENROL_WINDOW_FILE)), false, "unchanged: nothing written");
    r.setReenrolWindow(2 * DAY_MS);
    assert.equal(r.reenrolling(), false);
    assert.throws(
      () => r.assertRenewable(),
      (e: unknown) => e instanceof JoinError && e.code === "expired",
    );
    assert.ok(logs.some((l) => l.includes("re-enrolment window is 48 h")));
    // Restarted: the kept window applies before any assignment arrives.
    const again = renewal(dir, fiveDaysPast);
    assert.equal(again.reenrolWindowMs, 2 * DAY_MS);
    assert.throws(() => again.assertRenewable(), /join again/);
    again.setReenrolWindow(10 * DAY_MS);
    assert.equal(again.reenrolling(), true);
    assert.equal(renewal(dir, fiveDaysPast).reenrolling(), true);
    // Nonsense from a caller is ignored.
    again.setReenrolWindow(-1);
    again.setReenrolWindow(Number.NaN);
    assert.equal(again.reenrolWindowMs, 10 * DAY_MS);
    assert.equal(renewal(dir, TEST_NOW_MS).reenrolling(), false, "valid: not re-enrolling");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a damaged or out-of-range window file is ignored", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-agent-window-"));
  const file = join(dir, REENROL_WINDOW_FILE);
  try {
    assert.equal(loadReenrolWindow(file), undefined, "absent");
    for (const body of [
      "{not json",
      '{"reenrolWindowMs":-5}',
      '{"reenrolWindowMs":"720h"}',
      "[]",
    ]) {
      writeFileSync(file, body);
      assert.equal(loadReenrolWindow(file), undefined, body);
    }
    writeFileSync(file, JSON.stringify({ reenrolWindowMs: limits.reenrolWindowMsMax + 1 }));
    assert.equal(loadReenrolWindow(file), undefined);
    writeFileSync(file, '{"reenrolWindowMs":0}');
    assert.equal(loadReenrolWindow(file), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
