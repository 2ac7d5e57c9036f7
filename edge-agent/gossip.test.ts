import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import type { TaskStatusUpdate, WireGossipKeys } from "../core/codec/index.ts";
import { type GossipStatus, gossipAad, openGossip, sealGossip } from "../core/gossip.ts";
import { newGossipKeyRing, rotateGossipKeyRing, wireGossipKeys } from "../core/gossip-keys.ts";
import { TaskState } from "../core/model/task-state.ts";
import { loadConfig, saveConfig } from "./config.ts";
import { GOSSIP_KEYS_FILE, GossipAgent, loadGossipKeys } from "./gossip.ts";
import { aesGcm, gossipNonce } from "./gossip-cipher.ts";
import { formatPeers, PEERS_FILE, peersCommand, readPeers, writePeers } from "./gossip-peers.ts";
import { task } from "./worker/testing.ts";

const random = (n: number) => new Uint8Array(randomBytes(n));
const C = "c1";
const st = (nodeId: string, timeMs: number): GossipStatus => ({
  nodeId,
  hostname: `${nodeId}.local`,
  timeMs,
  seq: 1,
  services: [],
});

test("AES-256-GCM: sealed statuses open; any flipped bit, another key or topic does not", () => {
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const other = wireGossipKeys(newGossipKeyRing(random, 0));
  const payload = sealGossip({
    cipher: aesGcm,
    keys,
    clusterId: C,
    status: st("n1", 5),
    nonce: gossipNonce(),
  });
  const open = (k: WireGossipKeys, p: Uint8Array, topic = "fleet/c1/gossip/n1") =>
    openGossip({ cipher: aesGcm, keys: k, clusterId: C, topic, payload: p, nowMs: 10 });
  const ok = open(keys, payload);
  assert.ok(ok.ok);
  assert.equal(ok.status.hostname, "n1.local");
  assert.equal(open(other, payload).ok, false);
  assert.equal(open(keys, payload, "fleet/c1/gossip/n2").ok, false);
  fc.assert(
    fc.property(fc.nat(payload.length - 1), fc.integer({ min: 0, max: 7 }), (at, bit) => {
      const bad = Uint8Array.from(payload);
      bad[at]! ^= 1 << bit;
      assert.equal(open(keys, bad).ok, false);
    }),
    { numRuns: 300 },
  );
  // Two seals of the same status differ (fresh nonce), and the cipher refuses a short tag.
  const again = sealGossip({
    cipher: aesGcm,
    keys,
    clusterId: C,
    status: st("n1", 5),
    nonce: gossipNonce(),
  });
  assert.notDeepEqual(again, payload);
  const k = keys.keys[0]!.key;
  assert.equal(aesGcm.open(k, gossipNonce(), gossipAad("t", 1), new Uint8Array(15)), undefined);
});

/** Agents joined by an in-memory "broker" that delivers every publish to every agent. */
function mesh(ids: string[], dir?: string) {
  let now = 1_000_000;
  const statuses = new Map<string, TaskStatusUpdate[]>();
  const agents = new Map<string, GossipAgent>();
  const online = new Set(ids);
  const published: { topic: string; payload: Uint8Array }[] = [];
  for (const id of ids) {
    if (dir) mkdirSync(join(dir, id));
    const a = new GossipAgent({
      clusterId: C,
      nodeId: id,
      hostname: `${id}.local`,
      ...(dir ? { dataDir: join(dir, id) } : {}),
      publish: (topic, payload) => {
        if (!online.has(id)) return false;
        published.push({ topic, payload });
        for (const other of agents.values()) other.onMessage(topic, payload);
        return true;
      },
      statuses: () => statuses.get(id) ?? [],
      tasks: [],
      cipher: aesGcm,
      nonce: gossipNonce,
      now: () => now,
      timing: () => ({ refreshMs: 60_000, minIntervalMs: 5_000, staleMs: 180_000 }),
    });
    agents.set(id, a);
  }
  return {
    agents,
    statuses,
    online,
    published,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
    tick: () => {
      for (const a of agents.values()) (a as unknown as { start(): void }).start();
    },
    stop: () => {
      for (const a of agents.values()) a.stop();
    },
  };
}

test("agents see each other, publish on change (rate-bounded) and expire stale peers", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-"));
  const m = mesh(["a", "b"], dir);
  t.after(() => {
    m.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const [a, b] = [m.agents.get("a")!, m.agents.get("b")!];
  m.tick();
  assert.equal(m.published.length, 0, "nothing is sealed before the ring arrives");
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const t1 = task("t1", { image: "x" });
  a.onAssignment({ version: 3, tasks: [t1], gossip: keys });
  b.onAssignment({ version: 3, tasks: [], gossip: keys });
  m.tick();
  assert.deepEqual(
    a.peers().map((p) => p.nodeId),
    ["b"],
  );
  assert.deepEqual(
    b.peers().map((p) => [p.nodeId, p.services]),
    [["a", [{ name: "web", running: 0, tasks: 1 }]]],
  );
  // The key ring is on disk (0600) and the peer table (no key bytes) next to it.
  const keyFile = join(dir, "a", GOSSIP_KEYS_FILE);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.deepEqual(loadGossipKeys(join(dir, "a")), keys);
  const table = readFileSync(join(dir, "b", PEERS_FILE), "utf8");
  assert.ok(!table.includes(Buffer.from(keys.keys[0]!.key).toString("hex")));
  assert.match(
    formatPeers(readPeers(join(dir, "b")), m.now()),
    /a\s+a\.local\s+0s ago\s+1\s+web 0\/1/,
  );

  // A change is published, but not before the minimum interval.
  const sent = m.published.length;
  m.statuses.set("a", [{ taskId: "t1", state: TaskState.RUNNING, timestamp: 1, message: "" }]);
  m.advance(1000);
  m.tick();
  assert.equal(m.published.length, sent, "within 5 s of the last publish: held back");
  m.advance(4000);
  m.tick();
  assert.equal(m.published.length, sent + 1);
  assert.equal(b.peers()[0]!.services[0]!.running, 1);
  // Unchanged: quiet until the refresh period.
  m.advance(30_000);
  m.tick();
  assert.equal(m.published.filter((p) => p.topic.endsWith("/a")).length, 2);

  // b goes silent (offline); a forgets it after the stale period, and says so on disk.
  m.online.delete("b");
  m.advance(200_000);
  m.tick();
  assert.deepEqual(a.peers(), []);
  assert.equal(readPeers(join(dir, "a")).peers.length, 0);
  // A restarted agent seals with the ring it persisted, before any assignment.
  const again = new GossipAgent({
    clusterId: C,
    nodeId: "a",
    hostname: "a",
    dataDir: join(dir, "a"),
    publish: () => true,
    statuses: () => [],
    tasks: [],
    cipher: aesGcm,
    nonce: gossipNonce,
  });
  assert.deepEqual(again.keys, keys);
});

test("rotation: the new key goes out at once; old-key messages open in the grace, then not", () => {
  const m = mesh(["a", "b"]);
  const [a, b] = [m.agents.get("a")!, m.agents.get("b")!];
  const ring0 = newGossipKeyRing(random, 0);
  a.onAssignment({ version: 1, tasks: [], gossip: wireGossipKeys(ring0) });
  b.onAssignment({ version: 1, tasks: [], gossip: wireGossipKeys(ring0) });
  m.tick();
  const ring1 = rotateGossipKeyRing(ring0, random, m.now(), 10_000);
  // Only a has the new ring; b (not yet reached) still seals with key 1.
  a.onAssignment({ version: 2, tasks: [], gossip: wireGossipKeys(ring1) });
  m.tick();
  assert.equal(a.keys?.current, 2);
  a.onAssignment({ version: 1, tasks: [], gossip: wireGossipKeys(ring0) });
  assert.equal(a.keys?.current, 2, "an older assignment does not bring an older ring back");
  assert.equal(b.stats.refused["unknown-key"], 1, "b cannot open key 2 yet");
  assert.equal(b.peers()[0]?.keyId, 1, "b keeps a's last key-1 status");
  const fromB = m.published.filter((p) => p.topic.endsWith("/b")).at(-1)!;
  m.advance(5000);
  a.onMessage(fromB.topic, fromB.payload);
  assert.equal(a.stats.refused["expired-key"], undefined, "b's key-1 status opens in the grace");
  assert.equal(a.peers()[0]?.keyId, 1);
  m.advance(6000); // past the grace
  a.onMessage(fromB.topic, fromB.payload);
  assert.equal(a.stats.refused["expired-key"], 1);
  // Once b gets the ring it seals with key 2, which a opens.
  b.onAssignment({ version: 2, tasks: [], gossip: wireGossipKeys(ring1) });
  m.tick();
  assert.equal(a.peers()[0]?.keyId, 2);
  // A cleared retained status (a manager removed the node) drops the peer at once.
  assert.equal(a.peers().length, 1);
  a.onMessage("fleet/c1/gossip/b", new Uint8Array(0));
  assert.equal(a.peers().length, 0);
  b.onAssignment({ version: 3, tasks: [], gossip: wireGossipKeys(ring1) });
  // Bad input on the gossip topics costs that message only.
  a.onMessage("fleet/c1/gossip/x", new Uint8Array([1, 2, 3]));
  a.onMessage("fleet/c1/gossip/x", new Uint8Array(0));
  assert.equal(a.stats.refused.malformed, 1);
  m.stop();
});

test("edge-agent peers prints the table, or says why not", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-peers-"));
  try {
    const out: string[] = [];
    assert.equal(
      peersCommand([], (s) => out.push(s)),
      2,
    );
    assert.equal(
      peersCommand(["--data-dir", dir], (s) => out.push(s)),
      1,
    );
    assert.match(out.at(-1)!, /no peer table/);
    assert.ok(!existsSync(join(dir, PEERS_FILE)));
    writeFileSync(join(dir, PEERS_FILE), "{not json");
    assert.equal(
      peersCommand(["--data-dir", dir], (s) => out.push(s)),
      1,
    );
    assert.match(out.at(-1)!, /not JSON/);
    writePeers(dir, { nodeId: "n1", writtenMs: Date.now(), peers: [] });
    assert.equal(
      peersCommand(["--data-dir", dir, "--json"], (s) => out.push(s)),
      0,
    );
    assert.equal(JSON.parse(out.at(-1)!).nodeId, "n1");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("late and clock-skewed statuses: an older one is ignored, a peer whose clock jumped back is heard", () => {
  let now = 100_000_000;
  const a = new GossipAgent({
    clusterId: C,
    nodeId: "a",
    hostname: "a",
    publish: () => true,
    statuses: () => [],
    tasks: [],
    cipher: aesGcm,
    nonce: gossipNonce,
    now: () => now,
  });
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  a.onAssignment({ version: 1, tasks: [], gossip: keys });
  const from = (timeMs: number, hostname: string) =>
    a.onMessage(
      "fleet/c1/gossip/b",
      sealGossip({
        cipher: aesGcm,
        keys,
        clusterId: C,
        status: { ...st("b", timeMs), hostname },
        nonce: gossipNonce(),
      }),
    );
  from(now - 1000, "first");
  from(now - 2000, "late");
  assert.equal(a.peers()[0]?.hostname, "first", "an older status delivered late is ignored");
  from(now + 3_600_000, "clock ahead");
  now += 1000;
  from(now, "clock fixed");
  assert.equal(a.peers()[0]?.hostname, "clock fixed");
  // A retained status older than the stale period (a peer gone quiet) is not taken.
  from(now - 10_000_000, "ancient");
  assert.equal(a.peers()[0]?.hostname, "clock fixed");
  a.stop();
});

test("--gossip off (or gossip: false in agent.json) turns gossip off; anything else is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-gossip-cfg-"));
  try {
    const base = [
      "--data-dir",
      dir,
      "--cluster",
      "c1",
      "--node-id",
      "n1",
      "--broker",
      "mqtt://h:1",
    ];
    assert.equal(loadConfig(base).gossip, undefined, "on by default");
    const off = loadConfig([...base, "--gossip", "off"]);
    assert.equal(off.gossip, false);
    saveConfig(off);
    assert.equal(loadConfig(["--data-dir", dir]).gossip, false, "kept in agent.json");
    assert.equal(loadConfig(["--data-dir", dir, "--gossip", "on"]).gossip, true);
    assert.throws(() => loadConfig([...base, "--gossip", "maybe"]), /--gossip: on or off/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
