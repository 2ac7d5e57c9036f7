// Registration and liveness: hello, heartbeats, DOWN after missed periods, grace after a leader
// change, recovery. Fake clock, in-memory broker, LocalWriter.

import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../../core/limits.ts";
import { makeCluster, makeNode } from "../../core/model/fixtures.ts";
import { Store } from "../../core/store/store.ts";
import { harness } from "./testing.ts";

const PERIOD = 5000;

function nodeState(h: ReturnType<typeof harness>, id: string) {
  return h.store.view((tx) => tx.get("nodes", id))?.status.state;
}

test("hello registers a new node: description, hardware labels, ready, assignment", async () => {
  const h = harness();
  await h.dispatcher.start();
  await h.hello("pi-1");
  await h.clock.advance(100);
  const n = h.store.view((tx) => tx.get("nodes", "pi-1"));
  assert.ok(n, "node created");
  assert.equal(n.status.state, "ready");
  assert.equal(n.status.lastSeen, h.clock.now() - 100);
  assert.equal(n.description.hostname, "host-pi-1");
  assert.equal(n.description.engineLabels["hw.storage"], "sd");
  assert.equal(n.description.platform.variant, "v8");
  assert.deepEqual(n.spec, { role: "worker", availability: "active", labels: {} });
  const a = h.assignment("pi-1");
  assert.ok(a, "retained assignment published on hello");
  assert.deepEqual(a.tasks, []);
  assert.equal(h.dispatcher.stats().hellos, 1);
  await h.dispatcher.stop();
});

test("hello refreshes a known node's description and keeps the operator's spec", async () => {
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", makeCluster("c1"));
    tx.create("nodes", makeNode("pi-2", { labels: { zone: "a" }, status: { state: "down" } }));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  await h.hello("pi-2");
  await h.clock.advance(100);
  const n = h.store.view((tx) => tx.get("nodes", "pi-2"))!;
  assert.equal(n.status.state, "ready");
  assert.equal(n.description.platform.arch, "arm64");
  assert.deepEqual(n.spec.labels, { zone: "a" });
  await h.dispatcher.stop();
});

test("heartbeats are not written; a node is DOWN after 3 missed periods", async () => {
  const h = harness();
  await h.dispatcher.start();
  await h.hello("n1");
  await h.clock.advance(100);
  const before = h.commits();
  for (let i = 0; i < 20; i++) {
    await h.clock.advance(PERIOD);
    await h.heartbeat("n1", i);
  }
  assert.equal(h.commits(), before, "twenty heartbeats cost no store write");
  assert.equal(h.dispatcher.stats().heartbeats, 20);
  // Silence: still ready just before three periods, down within one check after.
  await h.clock.advance(3 * PERIOD - 1100);
  assert.equal(nodeState(h, "n1"), "ready");
  await h.clock.advance(1000 + PERIOD / 5 + 100 + 100);
  assert.equal(nodeState(h, "n1"), "down");
  const n = h.store.view((tx) => tx.get("nodes", "n1"))!;
  assert.equal(n.status.message, "heartbeat failure");
  assert.equal(h.dispatcher.stats().nodesDown, 1);
  await h.dispatcher.stop();
});

test("a down node recovers to ready on its next heartbeat, and on hello", async () => {
  const h = harness();
  await h.dispatcher.start();
  await h.hello("n1");
  await h.hello("n2");
  await h.clock.advance(4 * PERIOD);
  assert.equal(nodeState(h, "n1"), "down");
  assert.equal(nodeState(h, "n2"), "down");
  await h.heartbeat("n1");
  await h.hello("n2");
  await h.clock.advance(100);
  assert.equal(nodeState(h, "n1"), "ready");
  assert.equal(nodeState(h, "n2"), "ready");
  assert.equal(h.dispatcher.stats().nodesRecovered, 1);
  await h.dispatcher.stop();
});

test("after a leader change every node gets 6 periods of grace", async () => {
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", makeCluster("c1"));
    for (const id of ["quiet", "chatty"]) tx.create("nodes", makeNode(id));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  assert.equal(typeof h.dispatcher.leaderSince, "number");
  for (let i = 0; i < 5; i++) {
    await h.clock.advance(PERIOD);
    await h.heartbeat("chatty", i);
  }
  // Five periods in, past the usual three: nobody is down yet.
  assert.equal(nodeState(h, "quiet"), "ready");
  await h.clock.advance(PERIOD - 1100);
  assert.equal(nodeState(h, "quiet"), "ready", "still within 6 periods");
  await h.clock.advance(1000 + PERIOD / 5 + 200);
  assert.equal(nodeState(h, "quiet"), "down", "down once the grace ran out");
  assert.equal(nodeState(h, "chatty"), "ready");
  await h.dispatcher.stop();
});

test("the heartbeat period comes from the cluster spec", async () => {
  const store = new Store();
  store.update((tx) => {
    tx.create(
      "clusters",
      makeCluster("c1", { spec: { ...makeCluster().spec, heartbeatPeriodMs: 1000 } }),
    );
  });
  const h = harness({ store });
  await h.dispatcher.start();
  await h.hello("n1");
  await h.clock.advance(2500);
  assert.equal(nodeState(h, "n1"), "ready");
  await h.clock.advance(1000);
  assert.equal(nodeState(h, "n1"), "down");
  await h.dispatcher.stop();
});

test("stop ends the sessions: no timers left, messages ignored", async () => {
  const h = harness();
  await h.dispatcher.start();
  await h.hello("n1");
  await h.dispatcher.stop();
  assert.equal(h.clock.pending, 0);
  assert.equal(h.dispatcher.leaderSince, undefined);
  await h.hello("n2");
  await h.clock.advance(1000);
  assert.equal(
    h.store.view((tx) => tx.get("nodes", "n2")),
    undefined,
  );
  assert.equal(nodeState(h, "n1"), "ready", "queued registration was written at stop");
});

test("stop does not hang on a store write that never commits", async () => {
  const store = new Store();
  const never = {
    store,
    update: () => new Promise<never>(() => {}),
    batch: () => new Promise<never>(() => {}),
  };
  const h = harness({ writer: never });
  await h.dispatcher.start();
  await h.hello("n1");
  await h.clock.advance(100); // the registration write is now in flight, forever
  const stopped = h.dispatcher.stop();
  await h.clock.advance(limits.dispatcherStopDrainMs);
  await stopped;
  assert.equal(h.dispatcher.stats().running, false);
});

test("manager nodes are not heartbeat sessions: never marked down by the dispatcher", async () => {
  const store = new Store();
  store.update((tx) => {
    tx.create("clusters", makeCluster("c1"));
    const m = makeNode("mgr-1", { status: { state: "ready" } });
    tx.create("nodes", {
      ...m,
      spec: { ...m.spec, role: "manager" },
      managerStatus: {
        raftId: "1",
        addr: "127.0.0.1:4242",
        reachability: "reachable",
        leader: true,
      },
    });
    tx.create("nodes", makeNode("pi-9", { status: { state: "ready" } }));
  });
  const h = harness({ store });
  await h.dispatcher.start();
  await h.clock.advance(PERIOD * (limits.leaderChangeGracePeriods + 2));
  assert.equal(nodeState(h, "mgr-1"), "ready");
  assert.equal(nodeState(h, "pi-9"), "down", "a silent worker does go down");
  await h.dispatcher.stop();
});

test("hello records the node's address; a bad one costs the address only", async () => {
  const h = harness();
  await h.dispatcher.start();
  const addr = (id: string) => h.store.view((tx) => tx.get("nodes", id))?.status.addr;
  await h.hello("a1", { addr: "192.168.1.20" });
  await h.clock.advance(100);
  assert.equal(addr("a1"), "192.168.1.20");
  await h.hello("a1", { addr: "fd00::20" }); // the node moved
  await h.clock.advance(100);
  assert.equal(addr("a1"), "fd00::20");
  await h.hello("a1"); // an agent that does not say keeps the last known one
  await h.clock.advance(100);
  assert.equal(addr("a1"), "fd00::20");
  await h.hello("a2", { addr: "not-an-ip; rm -rf" });
  await h.clock.advance(100);
  assert.equal(h.store.view((tx) => tx.get("nodes", "a2"))?.status.state, "ready");
  assert.equal(addr("a2"), undefined);
  assert.equal(h.dispatcher.stats().dropped.bad_addr, 1);
  await h.dispatcher.stop();
});
