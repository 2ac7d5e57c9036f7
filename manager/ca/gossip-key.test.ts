// The gossip key ring on the managers: made by the leader for a cluster without one, rotated by
// the API (ids only in answers and in `cluster inspect`), pruned after the grace, and delivered
// to every node in a new assignment whenever it changes. `fleet monitor` shows gossip as sealed.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { sealGossip } from "../../core/gossip.ts";
import { newGossipKeyRing, rotateGossipKeyRing } from "../../core/gossip-keys.ts";
import { makeCluster, makeNode } from "../../core/model/fixtures.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { aesGcm, gossipNonce } from "../../edge-agent/gossip-cipher.ts";
import { ApiServer } from "../api/server.ts";
import { call, testWorld } from "../api/testing.ts";
import { decodePayload } from "../cli/monitor-format.ts";
import { fleet, startApi } from "../cli/testing.ts";
import { harness } from "../dispatcher/testing.ts";
import { GossipKeyService, maintainGossipKeys } from "./gossip-key.ts";

const random = (n: number) => new Uint8Array(randomBytes(n));
const ring = (s: Store) => s.view((tx) => tx.get("clusters", "c1")?.gossipKeys);

test("the leader gives a cluster without a ring one, and prunes keys past their grace", async () => {
  const store = new Store();
  const writer = new LocalWriter(store);
  assert.equal(await maintainGossipKeys(writer, 1000), false, "no cluster object yet: nothing");
  store.update((tx) => tx.create("clusters", makeCluster("c1")));
  assert.equal(await maintainGossipKeys(writer, 1000), true);
  const r0 = ring(store)!;
  assert.equal(r0.current, 1);
  assert.equal(await maintainGossipKeys(writer, 2000), false, "a valid ring is left alone");
  const r1 = rotateGossipKeyRing(r0, random, 3000, 1000);
  store.update((tx) => tx.update("clusters", { ...tx.get("clusters", "c1")!, gossipKeys: r1 }));
  assert.equal(await maintainGossipKeys(writer, 3999), false, "within the grace");
  assert.equal(await maintainGossipKeys(writer, 4000), true);
  assert.deepEqual(
    ring(store)!.keys.map((k) => k.id),
    [2],
  );
  // A damaged ring (hand-edited store) is replaced rather than crashing the leader.
  store.update((tx) =>
    tx.update("clusters", {
      ...tx.get("clusters", "c1")!,
      gossipKeys: { current: 9, keys: [{ id: 1, key: "nothex", createdAt: 0 }] },
    }),
  );
  assert.equal(await maintainGossipKeys(writer, 5000), true);
  assert.equal(ring(store)!.current, 1);
});

test("rotate over the API: ids only, never key bytes; inspect shows the same", async () => {
  const w = testWorld();
  const api = new ApiServer(w.ctx);
  const r = await call(api, "POST", "/v1/cluster/gossip-key/rotate?graceMs=60000");
  assert.equal(r.status, 200);
  assert.equal(r.body.current, 1, "a cluster without a ring gets its first");
  const r2 = await call(api, "POST", "/v1/cluster/gossip-key/rotate?graceMs=60000");
  assert.equal(r2.body.current, 2);
  assert.deepEqual(
    r2.body.keys.map((k: { id: number; until?: number }) => [k.id, k.until]),
    [
      [2, undefined],
      [1, w.clock.now + 60_000],
    ],
  );
  const stored = ring(w.store)!;
  const inspect = (await call(api, "GET", "/v1/cluster")).body;
  assert.deepEqual(inspect.gossipKeys, r2.body);
  for (const k of stored.keys) {
    assert.ok(!JSON.stringify(r2.body).includes(k.key));
    assert.ok(!JSON.stringify(inspect).includes(k.key));
  }
  const tooLong = await call(api, "POST", "/v1/cluster/gossip-key/rotate?graceMs=9999999999999");
  assert.equal(tooLong.status, 400);
  const notInt = await call(api, "POST", "/v1/cluster/gossip-key/rotate?graceMs=-1");
  assert.equal(notInt.status, 400);
});

test("every node's assignment carries the ring, and a rotation republishes all of them", async () => {
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", { ...makeCluster("c1"), gossipKeys: newGossipKeyRing(random, 0) });
    tx.create("nodes", makeNode("n1"));
    tx.create("nodes", makeNode("n2"));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  const before = h.assignment("n1")!;
  assert.equal(before.gossip?.current, 1);
  assert.equal(before.gossip?.keys[0]?.key.length, 32);
  const r0 = ring(store)!;
  await h.writer.update((tx) =>
    tx.update("clusters", {
      ...tx.get("clusters", "c1")!,
      gossipKeys: rotateGossipKeyRing(r0, random, 1000, 5000),
    }),
  );
  await h.clock.advance(100);
  for (const n of ["n1", "n2"]) {
    const a = h.assignment(n)!;
    assert.ok(a.version > before.version, `${n}: a new version, so the agent applies it`);
    assert.deepEqual(
      a.gossip?.keys.map((k) => [k.id, k.until]),
      [
        [2, undefined],
        [1, 6000],
      ],
    );
  }
  // A cluster write that leaves the ring alone republishes nothing.
  const count = h.assignments("n1").length;
  await h.writer.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    tx.update("clusters", { ...c, spec: { ...c.spec, taskHistoryLimit: 3 } });
  });
  await h.clock.advance(100);
  assert.equal(h.assignments("n1").length, count);
  await h.dispatcher.stop();
});

test("fleet monitor shows a gossip message as sealed, without a key", () => {
  const keys = { current: 1, keys: [{ id: 1, key: random(32) }] };
  const status = { nodeId: "n1", hostname: "secret-host", timeMs: 1, seq: 1, services: [] };
  const payload = sealGossip({
    cipher: aesGcm,
    keys,
    clusterId: "c1",
    status,
    nonce: gossipNonce(),
  });
  const d = decodePayload("fleet/c1/gossip/n1", payload);
  assert.equal(d.type, "gossip");
  assert.match(d.summary, /^sealed \(key 1, \d+ bytes\)$/);
  assert.ok(!JSON.stringify(d.summary).includes("secret-host"));
  // Damaged gossip is shown as such, never thrown.
  assert.equal(decodePayload("fleet/c1/gossip/n1", payload.subarray(0, 10)).type, "invalid");
});

test("fleet cluster update --rotate-gossip-key [--gossip-key-grace D] through the real CLI", async () => {
  const s = await startApi();
  try {
    const first = await fleet(["cluster", "update", "--rotate-gossip-key"], { socket: s.socket });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /key 1 is current/);
    const r = await fleet(["cluster", "update", "--rotate-gossip-key", "--gossip-key-grace", "0"], {
      socket: s.socket,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /key 2 is current/);
    assert.deepEqual(
      ring(s.store)!.keys.map((k) => k.id),
      [2],
      "grace 0: the old key is gone at once",
    );
    const bad = await fleet(["cluster", "update", "--gossip-key-grace", "1h"], {
      socket: s.socket,
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /goes with --rotate-gossip-key/);
  } finally {
    await s.stop();
  }
});

test("a removed node's retained gossip status is cleared with its assignment", async () => {
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", makeCluster("c1"));
    tx.create("nodes", makeNode("n1"));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  await h.device.publish(h.topics.gossip("n1"), new Uint8Array([1]), { qos: 0, retain: true });
  assert.equal(h.broker.retained(h.topics.gossip("n1"))?.length, 1);
  store.update((tx) => tx.delete("nodes", "n1"));
  await h.clock.advance(50);
  assert.equal(h.broker.retained(h.topics.gossip("n1")), undefined);
  await h.dispatcher.stop();
});

test("the leader's GossipKeyService: a ring for a cluster written later, pruning at the grace's end", async () => {
  const store = new Store();
  const writer = new LocalWriter(store);
  const warned: string[] = [];
  const service = new GossipKeyService(writer, { warn: (m) => warned.push(m) }, 50);
  service.start();
  try {
    store.update((tx) => tx.create("clusters", makeCluster("c1")));
    await waitFor("a ring for the new cluster object", () => ring(store)?.current === 1);
    const r1 = rotateGossipKeyRing(ring(store)!, random, Date.now(), 300);
    store.update((tx) => tx.update("clusters", { ...tx.get("clusters", "c1")!, gossipKeys: r1 }));
    assert.equal(ring(store)!.keys.length, 2);
    await waitFor("key 1 pruned after its grace", () => ring(store)!.keys.length === 1);
    assert.equal(ring(store)!.current, 2);
    assert.deepEqual(warned, []);
  } finally {
    service.stop();
  }
});

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("assignments carry the gossip switch; switching it republishes them all, with the ring", async () => {
  const store = new Store();
  store.update((tx) => {
    const c = { ...makeCluster("c1"), gossipKeys: newGossipKeyRing(random, 1000) };
    const { gossip: _, ...spec } = c.spec; // a cluster from before the setting: on
    tx.create("clusters", { ...c, spec });
    tx.create("nodes", makeNode("n1"));
    tx.create("nodes", makeNode("n2"));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  const setGossip = async (on: boolean) => {
    await h.writer.update((tx) => {
      const c = tx.get("clusters", "c1")!;
      tx.update("clusters", { ...c, spec: { ...c.spec, gossip: on } });
    });
    await h.clock.advance(100);
  };
  try {
    const before = h.assignment("n1")!;
    assert.equal(before.gossipEnabled, true, "absent: on");
    // Writing the default explicitly changes nothing an agent sees: no republish.
    const count = h.assignments("n1").length;
    await setGossip(true);
    assert.equal(h.assignments("n1").length, count);
    await setGossip(false);
    for (const n of ["n1", "n2"]) {
      const a = h.assignment(n)!;
      assert.ok(a.version > before.version, `${n}: a new version, so the agent applies it`);
      assert.equal(a.gossipEnabled, false);
      assert.equal(a.gossip?.current, 1, "the ring still goes, so on again works at once");
    }
    const off = h.assignment("n1")!.version;
    await setGossip(true);
    assert.ok(h.assignment("n1")!.version > off);
    assert.equal(h.assignment("n2")!.gossipEnabled, true);
  } finally {
    await h.dispatcher.stop();
  }
});
