// The cluster's gossip switch on the agent (assignment field gossipEnabled), on an in-memory
// bus that honours subscriptions and retained messages like a broker: told off, an agent stops
// publishing, unsubscribes `gossip/+`, clears its retained status (peers drop it, quietly) and
// forgets its peers; the switch survives a restart; told on, it resumes. The agent's own
// `--gossip off` wins over the cluster's on. A clear that cannot go out (offline) is retried.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { newGossipKeyRing, wireGossipKeys } from "../core/gossip-keys.ts";
import { GOSSIP_SWITCH_FILE, GossipAgent } from "./gossip.ts";
import { aesGcm, gossipNonce } from "./gossip-cipher.ts";
import { loadGossipSwitch } from "./gossip-files.ts";
import { formatPeers, readPeers } from "./gossip-peers.ts";

const random = (n: number) => new Uint8Array(randomBytes(n));
const C = "c1";
const PREFIX = `fleet/${C}/gossip/`;

/** Agents on a broker-like bus: deliveries only to subscribers, retained kept (empty clears)
 * and delivered on subscribe. */
function bus(dir: string) {
  let now = 1_000_000;
  const retained = new Map<string, Uint8Array>();
  const subs = new Map<string, Set<string>>();
  const agents = new Map<string, GossipAgent>();
  const logs = new Map<string, string[]>();
  const online = new Set<string>();
  const published: { from: string; topic: string; bytes: number }[] = [];
  const matches = (filter: string, topic: string) =>
    filter === `${PREFIX}+` &&
    topic.startsWith(PREFIX) &&
    !topic.slice(PREFIX.length).includes("/");
  const add = (id: string, own = true) => {
    mkdirSync(join(dir, id), { recursive: true });
    online.add(id);
    subs.set(id, new Set());
    const log: string[] = logs.get(id) ?? [];
    logs.set(id, log);
    const a: GossipAgent = new GossipAgent({
      clusterId: C,
      nodeId: id,
      hostname: `${id}.local`,
      dataDir: join(dir, id),
      own,
      publish: (topic, payload) => {
        if (!online.has(id)) return false;
        published.push({ from: id, topic, bytes: payload.length });
        if (payload.length === 0) retained.delete(topic);
        else retained.set(topic, payload);
        for (const [other, f] of subs)
          if ([...f].some((x) => matches(x, topic))) agents.get(other)?.onMessage(topic, payload);
        return true;
      },
      subscribe: (filter) => {
        subs.get(id)!.add(filter);
        for (const [topic, payload] of retained)
          if (matches(filter, topic)) a.onMessage(topic, payload);
      },
      unsubscribe: (filter) => subs.get(id)!.delete(filter),
      statuses: () => [],
      tasks: [],
      cipher: aesGcm,
      nonce: gossipNonce,
      now: () => now,
      timing: () => ({ refreshMs: 60_000, minIntervalMs: 5_000, staleMs: 180_000 }),
      log: (l) => log.push(l),
    });
    agents.set(id, a);
    return a;
  };
  return {
    add,
    agents,
    retained,
    subs,
    online,
    published,
    logs,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
    /** Every agent's periodic check, as its timer would run it. */
    tick: () => {
      for (const a of agents.values()) a.start();
    },
    stop: () => {
      for (const a of agents.values()) a.stop();
    },
  };
}

const ids = (a: GossipAgent) => a.peers().map((p) => p.nodeId);

test("the cluster switches gossip off and on: unsubscribed, retained cleared, peers forgotten, resumed", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-switch-"));
  const m = bus(dir);
  t.after(() => {
    m.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const [a, b] = [m.add("a"), m.add("b")];
  m.tick();
  for (const x of [a, b]) x.onAssignment({ version: 1, tasks: [], gossip: keys });
  m.tick();
  assert.deepEqual([ids(a), ids(b)], [["b"], ["a"]]);
  assert.deepEqual([...m.retained.keys()].sort(), [`${PREFIX}a`, `${PREFIX}b`]);

  // a is told off: it leaves gossip/+, clears its retained status, forgets b; b drops a.
  a.onAssignment({ version: 2, tasks: [], gossip: keys, gossipEnabled: false });
  assert.equal(a.active, false);
  assert.equal(m.subs.get("a")!.size, 0, "unsubscribed");
  assert.deepEqual([...m.retained.keys()], [`${PREFIX}b`], "a's retained status cleared");
  assert.deepEqual(m.published.at(-1), { from: "a", topic: `${PREFIX}a`, bytes: 0 });
  assert.deepEqual(ids(a), []);
  assert.deepEqual(ids(b), [], "b drops a on the empty retained message");
  assert.ok(!m.logs.get("b")!.some((l) => /refused|error/i.test(l)), "quietly");
  assert.ok(m.logs.get("a")!.some((l) => l.includes("gossip: off (the cluster's setting)")));
  // The table on disk says gossip is off.
  const table = readPeers(join(dir, "a"));
  assert.equal(table.off, true);
  assert.match(formatPeers(table, m.now()), /node a, gossip off,/);

  b.onAssignment({ version: 2, tasks: [], gossip: keys, gossipEnabled: false });
  assert.equal(m.retained.size, 0, "no retained status left");
  // Off: nothing is published across refresh periods, and a message in flight is ignored.
  const sent = m.published.length;
  for (let i = 0; i < 5; i++) {
    m.advance(60_000);
    m.tick();
  }
  assert.equal(m.published.length, sent);
  assert.equal(m.subs.get("a")!.size + m.subs.get("b")!.size, 0);
  // A stale assignment (an old retained one) does not switch it back on.
  a.onAssignment({ version: 1, tasks: [], gossip: keys });
  assert.equal(a.active, false);

  // The switch is kept in the data dir: a restarted agent stays quiet before any assignment.
  assert.equal(JSON.parse(readFileSync(join(dir, "a", GOSSIP_SWITCH_FILE), "utf8")).gossip, false);
  a.stop();
  const a2 = m.add("a");
  assert.equal(a2.active, false);
  m.tick();
  assert.equal(m.subs.get("a")!.size, 0);
  assert.equal(m.published.length, sent, "no status and no second clear after a restart");

  // On again (a new assignment version): both subscribe, publish at once and see each other.
  for (const x of [a2, b])
    x.onAssignment({ version: 3, tasks: [], gossip: keys, gossipEnabled: true });
  assert.deepEqual([ids(a2), ids(b)], [["b"], ["a"]]);
  assert.equal(m.retained.size, 2);
  assert.equal(loadGossipSwitch(join(dir, "a")), true);
  assert.equal(readPeers(join(dir, "b")).off, undefined);
});

test("the agent's own --gossip off wins over the cluster's on; it never publishes or clears", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-switch-"));
  const m = bus(dir);
  t.after(() => {
    m.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const [a, c] = [m.add("a"), m.add("c", false)];
  m.tick();
  for (const x of [a, c])
    x.onAssignment({ version: 1, tasks: [], gossip: keys, gossipEnabled: true });
  m.tick();
  assert.equal(c.active, false);
  assert.equal(m.subs.get("c")!.size, 0);
  assert.deepEqual(ids(c), []);
  assert.deepEqual(ids(a), [], "a hears nothing from c");
  assert.ok(m.published.every((p) => p.from === "a"));
  c.onAssignment({ version: 2, tasks: [], gossip: keys, gossipEnabled: false });
  c.onAssignment({ version: 3, tasks: [], gossip: keys, gossipEnabled: true });
  m.tick();
  assert.ok(
    m.published.every((p) => p.from === "a"),
    "c never published, not even a clear",
  );
  assert.ok(m.logs.get("c")!.some((l) => l.includes("own --gossip off still holds")));
  assert.match(formatPeers(readPeers(join(dir, "c")), m.now()), /gossip off/);
});

test("told off while its link is down, the agent clears its status once it is back", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-switch-"));
  const m = bus(dir);
  t.after(() => {
    m.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const a = m.add("a");
  m.tick();
  a.onAssignment({ version: 1, tasks: [], gossip: keys });
  m.tick();
  assert.ok(m.retained.has(`${PREFIX}a`));
  m.online.delete("a");
  a.onAssignment({ version: 2, tasks: [], gossip: keys, gossipEnabled: false });
  m.tick();
  assert.ok(m.retained.has(`${PREFIX}a`), "not cleared while offline");
  m.online.add("a");
  m.tick();
  assert.equal(m.retained.has(`${PREFIX}a`), false);
  const clears = m.published.filter((p) => p.bytes === 0).length;
  m.tick();
  assert.equal(m.published.filter((p) => p.bytes === 0).length, clears, "cleared once");
});

test("a damaged switch file is reported and read as on", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-switch-"));
  try {
    writeFileSync(join(dir, GOSSIP_SWITCH_FILE), "{not json");
    const log: string[] = [];
    assert.equal(
      loadGossipSwitch(dir, (l) => log.push(l)),
      true,
    );
    assert.match(log.join("\n"), /ignored \(gossip on until an assignment says\)/);
    writeFileSync(join(dir, GOSSIP_SWITCH_FILE), '{"gossip":"off"}');
    assert.equal(loadGossipSwitch(dir), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
