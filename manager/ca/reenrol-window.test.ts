// The CA's deciders read the cluster's re-enrolment window from the store's cluster object, live:
// CaKeeper's CA (renewal on `n/<id>/csr` and re-enrolment through the join listener both go
// through CertificateAuthority.renew) and the revocation list's pruning when a node is removed
// or a certificate revoked. A certificate expired 5 days ago: the default window (30 days) and a
// 10-day one admit it, a 2-day one refuses it, with no new keeper or restart in between.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { KeyPair } from "../../core/crypto/keys.ts";
import { signRenewal } from "../../core/crypto/proof.ts";
import { testKey } from "../../core/crypto/testing.ts";
import { limits } from "../../core/limits.ts";
import { DAY_MS } from "../../core/model/defaults.ts";
import { makeCluster, makeNode } from "../../core/model/fixtures.ts";
import type { Cluster } from "../../core/model/types.ts";
import { Store } from "../../core/store/store.ts";
import type { WriteTx } from "../../core/store/tx.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { CertificateAuthority } from "./ca.ts";
import { CaKeeper, clusterCAFields, revokeNodeInTx } from "./lifecycle.ts";
import { reenrolByJoin } from "./reenrol-join.ts";
import { revokeSerialsInTx } from "./role-reissue.ts";

const EXPIRY_MS = 10 * DAY_MS;

function setup() {
  const { ca, tokens } = CertificateAuthority.create({ clusterId: "c1" });
  const base = makeCluster("c1", clusterCAFields(ca, tokens));
  const { reenrolWindowMs: _, ...oldSpec } = base.spec;
  const cluster: Cluster = { ...base, spec: oldSpec };
  /** A worker certificate from the same root that expired `agoMs` ago, and its key. */
  const expired = (nodeId: string, agoMs: number) => {
    const then = Date.now() - agoMs - EXPIRY_MS;
    const old = new CertificateAuthority({
      clusterId: "c1",
      root: ca.root,
      joinTokenHashes: ca.joinTokenHashes,
      now: () => then,
    });
    const key = testKey(`key:${nodeId}`);
    return { key, cert: old.issue(nodeId, "worker", key.publicKey, {}, EXPIRY_MS) };
  };
  return { cluster, expired };
}

function csrOf(nodeId: string, key: KeyPair, cert: { serial: string; certPem: string }) {
  const subject = { clusterId: "c1", nodeId, serial: cert.serial };
  const next = testKey(`next:${nodeId}:${Math.random()}`);
  return { ...signRenewal(key, next, subject), role: "worker" as const, certPem: cert.certPem };
}

const withWindow = (c: Cluster, ms: number): Cluster => ({
  ...c,
  spec: { ...c.spec, reenrolWindowMs: ms },
});

test("CaKeeper's CA renews an expired certificate by the store's window, read live", () => {
  const { cluster, expired } = setup();
  const keeper = new CaKeeper("c1");
  const { key, cert } = expired("w1", 5 * DAY_MS);
  const renew = (c: Cluster) =>
    keeper.ca(c)!.renew("w1", csrOf("w1", key, cert), { role: "worker" });
  assert.equal(cluster.spec.reenrolWindowMs, undefined);
  assert.equal(keeper.ca(cluster)!.reenrolWindowMs, 30 * DAY_MS, "absent: 30 days");
  assert.equal(renew(cluster).reenrolled, true);
  const ca = keeper.ca(cluster);
  assert.throws(
    () => renew(withWindow(cluster, 2 * DAY_MS)),
    (e: Error & { code?: string }) => e.code === "expired",
  );
  assert.equal(keeper.ca(withWindow(cluster, 2 * DAY_MS)), ca, "the same CA: no reload");
  assert.equal(renew(withWindow(cluster, 10 * DAY_MS)).reenrolled, true);
  assert.throws(() => renew(withWindow(cluster, 0)), /expired/);
});

test("re-enrolment through the join listener follows the store's window", async () => {
  const { cluster, expired } = setup();
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", withWindow(cluster, 2 * DAY_MS));
    tx.create("nodes", makeNode("w2"));
  });
  const d = { store, writer: new LocalWriter(store), clusterId: "c1" };
  const keeper = new CaKeeper("c1");
  const ca = () => keeper.ca(store.view((tx) => tx.get("clusters", "c1")))!;
  const { key, cert } = expired("w2", 5 * DAY_MS);
  await assert.rejects(reenrolByJoin(d, ca(), csrOf("w2", key, cert)), /re-enrol|expired/);
  store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    tx.update("clusters", withWindow(c, 10 * DAY_MS));
  });
  const r = await reenrolByJoin(d, ca(), csrOf("w2", key, cert));
  assert.equal(r.response.ok, true);
  assert.equal(store.view((tx) => tx.get("nodes", "w2"))!.certificate?.serial, r.serial);
});

test("revocation pruning keeps a serial as long as any window could admit it", () => {
  const { cluster, expired } = setup();
  const old = expired("w3", 5 * DAY_MS).cert;
  const ancient = Date.now() - limits.reenrolWindowMsMax - DAY_MS;
  const revocations = {
    serials: [
      { serial: old.serial, notAfterMs: old.notAfterMs, revokedAtMs: 0 },
      { serial: "0a0c1e47", notAfterMs: ancient, revokedAtMs: 0 },
    ],
    removedNodes: ["w3"],
  };
  const run = (windowMs: number | undefined, change: (tx: WriteTx) => void) => {
    const store = new Store();
    const c = windowMs === undefined ? cluster : withWindow(cluster, windowMs);
    store.update((tx) => {
      tx.create("clusters", { ...c, revocations });
      tx.create(
        "nodes",
        makeNode("w4", { certificate: { serial: "0badc0de", notAfter: Date.now() + DAY_MS } }),
      );
    });
    store.update(change);
    return store.view((tx) => tx.get("clusters", "c1"))!.revocations!;
  };
  const serials = (r: { serials: { serial: string }[] }) => r.serials.map((s) => s.serial).sort();
  const rm = (tx: WriteTx) => revokeNodeInTx(tx, tx.get("nodes", "w4")!, Date.now());
  // A 2-day window today must not forget a serial a 10-day window tomorrow would admit: only
  // serials past the longest settable window go, whatever the window is now.
  for (const w of [undefined, 2 * DAY_MS, 10 * DAY_MS]) {
    const r = run(w, rm);
    assert.deepEqual(serials(r), ["0badc0de", old.serial].sort(), `window ${w}`);
    assert.deepEqual(r.removedNodes, ["w3", "w4"], "removed ids are kept forever");
  }
  const reissue = (tx: WriteTx) =>
    void revokeSerialsInTx(tx, [{ serial: "0feed0", notAfter: Date.now() + DAY_MS }], Date.now());
  assert.deepEqual(serials(run(2 * DAY_MS, reissue)), ["0feed0", old.serial].sort());
});
