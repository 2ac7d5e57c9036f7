// Assignments carry the cluster's re-enrolment window (30 days for a cluster object without the
// setting), and a change of the window republishes every node's assignment with a new version
// so that each agent learns it (edge-agent/renewal.ts keeps it for when it is offline).

import assert from "node:assert/strict";
import { test } from "node:test";
import { CODEC_VERSION, decodeMessage, encodeCbor, encodeMessage } from "../../core/codec/index.ts";
import { DAY_MS } from "../../core/model/defaults.ts";
import { makeCluster, makeNode } from "../../core/model/fixtures.ts";
import { Store } from "../../core/store/store.ts";
import { harness } from "./testing.ts";

test("assignments carry the window; a window change republishes them all", async () => {
  const store = new Store();
  store.update((tx) => {
    const c = makeCluster("c1");
    const { reenrolWindowMs: _, ...spec } = c.spec;
    tx.create("clusters", { ...c, spec });
    tx.create("nodes", makeNode("n1"));
    tx.create("nodes", makeNode("n2"));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  try {
    const before = h.assignment("n1")!;
    assert.equal(before.reenrolWindowMs, 30 * DAY_MS, "absent: the default");
    await h.writer.update((tx) => {
      const c = tx.get("clusters", "c1")!;
      tx.update("clusters", { ...c, spec: { ...c.spec, reenrolWindowMs: 2 * DAY_MS } });
    });
    await h.clock.advance(100);
    for (const n of ["n1", "n2"]) {
      const a = h.assignment(n)!;
      assert.ok(a.version > before.version, `${n}: a new version, so the agent applies it`);
      assert.equal(a.reenrolWindowMs, 2 * DAY_MS);
    }
    // Another cluster setting republishes nothing.
    const count = h.assignments("n1").length;
    await h.writer.update((tx) => {
      const c = tx.get("clusters", "c1")!;
      tx.update("clusters", { ...c, spec: { ...c.spec, taskHistoryLimit: 3 } });
    });
    await h.clock.advance(100);
    assert.equal(h.assignments("n1").length, count);
  } finally {
    await h.dispatcher.stop();
  }
});

test("the assignment's window is checked on the wire: 0..1 year", () => {
  const ok = encodeMessage("assign", { version: 1, tasks: [], reenrolWindowMs: 0 });
  const d = decodeMessage(ok, "assign");
  assert.ok(d.ok);
  assert.equal(d.message.reenrolWindowMs, 0);
  for (const bad of [-1, 366 * DAY_MS]) {
    const body = encodeCbor({
      v: CODEC_VERSION,
      type: "assign",
      version: 1,
      tasks: [],
      reenrolWindowMs: bad,
    });
    assert.equal(decodeMessage(body, "assign").ok, false, String(bad));
  }
});
