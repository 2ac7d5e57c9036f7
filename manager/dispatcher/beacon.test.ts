// The leader's manager liveness beacon: one at start, then one per cluster heartbeat period
// (following a period change), QoS 0 and not retained, none after stop. Fake clock.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessage } from "../../core/codec/index.ts";
import { makeCluster } from "../../core/model/fixtures.ts";
import { Store } from "../../core/store/store.ts";
import { harness } from "./testing.ts";

test("the leader publishes a beacon every heartbeat period while it runs", async () => {
  const store = new Store();
  const spec = { ...makeCluster().spec, heartbeatPeriodMs: 2000 };
  store.update((tx) => tx.create("clusters", makeCluster("c1", { spec })));
  const h = harness({ store });
  const heard: { at: number; seq: number; periodMs: number; managerId: string }[] = [];
  await h.device.subscribe(h.topics.beacon, (_t, p) => {
    const d = decodeMessage(p, "beacon");
    assert.ok(d.ok, "a valid beacon");
    const { seq, periodMs, managerId } = d.message;
    heard.push({ at: h.clock.now(), seq, periodMs, managerId });
  });
  const t0 = h.clock.now();
  await h.dispatcher.start();
  await h.clock.advance(6000);
  assert.deepEqual(
    heard.map((b) => [b.at - t0, b.seq, b.periodMs]),
    [
      [0, 1, 2000],
      [2000, 2, 2000],
      [4000, 3, 2000],
      [6000, 4, 2000],
    ],
  );
  assert.equal(heard[0]?.managerId, "manager");
  for (const m of h.broker.log.filter((x) => x.topic === h.topics.beacon))
    assert.deepEqual(m.opts, { qos: 0, retain: false });
  assert.equal(h.broker.retained(h.topics.beacon), undefined);
  assert.equal(h.dispatcher.stats().beacons, 4);

  // The cluster's period changes: the beacons follow from the next one on.
  store.update((tx) => {
    const c = tx.get("clusters", "c1");
    assert.ok(c);
    tx.update("clusters", { ...c, spec: { ...c.spec, heartbeatPeriodMs: 500 } });
  });
  await h.clock.advance(3000);
  const after = heard.slice(4).map((b) => [b.at - t0, b.periodMs]);
  assert.deepEqual(after.slice(0, 3), [
    [8000, 500],
    [8500, 500],
    [9000, 500],
  ]);

  const count = heard.length;
  await h.dispatcher.stop();
  await h.clock.advance(10_000);
  assert.equal(heard.length, count, "no beacon after stop");
});
