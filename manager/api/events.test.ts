import assert from "node:assert/strict";
import { test } from "node:test";
import { makeCluster, makeNode } from "../../core/model/fixtures.ts";
import { Store } from "../../core/store/store.ts";
import { EventHub } from "./events.ts";
import { apiLimits } from "./limits.ts";

const tick = () => new Promise((r) => setImmediate(r));

test("event hub: backlog after since, live events, trimmed history answers gone", async () => {
  const store = new Store();
  const hub = new EventHub(store, () => 5);
  hub.start();
  const base = store.index;
  const total = apiLimits.eventHistoryMax + 10;
  for (let i = 0; i < total; i++) store.update((tx) => tx.create("nodes", makeNode(`n${i}`)));
  await tick();
  const got: unknown[] = [];
  const sub = hub.subscribe(store.index - 2, (e) => got.push(e));
  assert.deepEqual(
    sub.backlog.map((e) => [e.type, e.action, e.id, e.time]),
    [
      ["node", "create", `n${total - 2}`, 5],
      ["node", "create", `n${total - 1}`, 5],
    ],
  );
  assert.throws(() => hub.subscribe(base, () => {}), /no longer held/);
  store.update((tx) => tx.create("clusters", makeCluster("c")));
  await tick();
  assert.equal(got.length, 1);
  sub.stop();
  hub.stop();
});

test("event hub: a store restored from a snapshot resets every client", async () => {
  const store = new Store();
  const hub = new EventHub(store, () => 0);
  hub.start();
  const got: unknown[] = [];
  hub.subscribe(undefined, (e) => got.push(e));
  store.restore(100, {});
  await tick();
  assert.deepEqual(got, [{ reset: "store restored from a snapshot; resync" }]);
  assert.equal(hub.clients, 0);
  const again: unknown[] = [];
  hub.subscribe(100, (e) => again.push(e));
  store.update((tx) => tx.create("nodes", makeNode("x")));
  await tick();
  assert.equal(again.length, 1, "the hub watches again after a reset");
  hub.stop();
});
