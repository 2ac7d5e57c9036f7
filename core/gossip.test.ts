import assert from "node:assert/strict";
import { test } from "node:test";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { encodeCbor } from "./codec/cbor.ts";
import { decodeMessage, encodeMessage, type WireGossipKeys } from "./codec/messages.ts";
import {
  type GossipCipher,
  type GossipStatus,
  gossipAad,
  gossipTiming,
  openGossip,
  sealGossip,
} from "./gossip.ts";
import {
  gossipKeyRingProblem,
  gossipKeyRingView,
  newGossipKeyRing,
  nextGossipKeyExpiry,
  pruneGossipKeyRing,
  rotateGossipKeyRing,
  wireGossipKeys,
} from "./gossip-keys.ts";
import { limits } from "./limits.ts";
import { createRng } from "./rand.ts";

// core/ may not use node:crypto; the agent's AES-256-GCM is tested in edge-agent/gossip.test.ts.
// Here an encrypt-then-MAC construction (SHA-256 keystream, HMAC-SHA-256 tag) stands in for it:
// a real AEAD as far as the envelope logic can tell (any changed bit fails the tag).
const etm: GossipCipher = {
  seal(key, nonce, aad, plain) {
    const ct = xor(key, nonce, plain);
    return concat(ct, tag(key, nonce, aad, ct));
  },
  open(key, nonce, aad, sealed) {
    if (sealed.length < 16) return undefined;
    const ct = sealed.subarray(0, sealed.length - 16);
    const t = tag(key, nonce, aad, ct);
    if (!t.every((b, i) => b === sealed[sealed.length - 16 + i])) return undefined;
    return xor(key, nonce, ct);
  },
};
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
function xor(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let block = 0; block * 32 < data.length; block++) {
    const ks = sha256(concat(key, nonce, new Uint8Array([block & 255, block >> 8])));
    for (let i = 0; i < 32 && block * 32 + i < data.length; i++)
      out[block * 32 + i] = data[block * 32 + i]! ^ ks[i]!;
  }
  return out;
}
function tag(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const len = new Uint8Array([aad.length & 255, aad.length >> 8]);
  return hmac(sha256, key, concat(len, aad, nonce, ct)).subarray(0, 16);
}

const rng = createRng(7);
const random = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
const nonce = () => random(12);
const C = "c1";
const topicOf = (node: string) => `fleet/${C}/gossip/${node}`;
const status = (nodeId: string, over: Partial<GossipStatus> = {}): GossipStatus => ({
  nodeId,
  hostname: `${nodeId}.local`,
  timeMs: 1_000,
  seq: 1,
  services: [{ name: "web", running: 2, tasks: 3 }],
  ...over,
});
const seal = (keys: WireGossipKeys, node = "n1", st = status(node)) =>
  sealGossip({ cipher: etm, keys, clusterId: C, status: st, nonce: nonce() });
const open = (keys: WireGossipKeys, payload: Uint8Array, topic = topicOf("n1"), nowMs = 2_000) =>
  openGossip({ cipher: etm, keys, clusterId: C, topic, payload, nowMs });

test("a sealed status opens under the same ring and carries no plaintext", () => {
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const p = seal(keys);
  const r = open(keys, p);
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  assert.deepEqual(r.status, status("n1"));
  assert.equal(r.keyId, 1);
  assert.ok(!Buffer.from(p).includes("n1.local"), "the host name must not travel in clear");
});

test("wrong key, unknown key id, another topic or a forged sender are refused with codes", () => {
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const other = wireGossipKeys(newGossipKeyRing(random, 0)); // same id 1, other bytes
  const p = seal(keys);
  assert.equal(codeOf(open(other, p)), "tampered");
  const rotated = wireGossipKeys(rotateGossipKeyRing(newGossipKeyRing(random, 0), random, 0, 0));
  assert.equal(
    codeOf(open({ ...rotated, keys: rotated.keys.filter((k) => k.id === 2) }, p)),
    "unknown-key",
  );
  // Replayed on another node's topic: the additional data binds the topic.
  assert.equal(codeOf(open(keys, p, topicOf("n2"))), "tampered");
  // A node holding the key seals a status naming another node on its own topic.
  const k = keys.keys[0]!;
  const n = nonce();
  const plain = encodeCbor(status("n1"));
  const sealed = etm.seal(k.key, n, gossipAad(topicOf("n2"), 1), plain);
  const forged = encodeMessage("gossip", { keyId: 1, nonce: n, sealed });
  assert.equal(codeOf(open(keys, forged, topicOf("n2"))), "wrong-sender");
  assert.equal(codeOf(open(keys, p, "fleet/c2/gossip/n1")), "wrong-topic");
  assert.equal(codeOf(open(keys, p, "fleet/c1/n/n1/hello")), "wrong-topic");
});

test("malformed and oversized payloads cost only that message", () => {
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  assert.equal(codeOf(open(keys, new Uint8Array([0xff, 0x00]))), "malformed");
  assert.equal(codeOf(open(keys, new Uint8Array(limits.gossipBytesMax + 1))), "oversized");
  const heartbeat = encodeMessage("heartbeat", { seq: 1 });
  assert.equal(codeOf(open(keys, heartbeat)), "malformed");
  // Authentic but not a status: sealed garbage under the right key and additional data.
  const k = keys.keys[0]!;
  const n = nonce();
  const junk = etm.seal(k.key, n, gossipAad(topicOf("n1"), 1), new Uint8Array([1, 2, 3]));
  const env = encodeMessage("gossip", { keyId: 1, nonce: n, sealed: junk });
  assert.equal(codeOf(open(keys, env)), "malformed");
  const shortNonce = encodeMessage("gossip", { keyId: 1, nonce: new Uint8Array(16), sealed: junk });
  assert.equal(codeOf(open(keys, shortNonce)), "malformed");
});

test("property: any single changed byte of a sealed payload is refused, never thrown", () => {
  const keys = wireGossipKeys(newGossipKeyRing(random, 0));
  const p = seal(keys);
  fc.assert(
    fc.property(fc.nat(p.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
      const bad = Uint8Array.from(p);
      bad[at]! ^= flip;
      const r = open(keys, bad);
      // A flip may land in the CBOR framing (malformed), the key id (unknown-key) or the
      // authenticated bytes (tampered); it never opens.
      assert.equal(r.ok, false);
    }),
    { numRuns: 500 },
  );
});

test("rotation grace: the old key opens until its end, then is refused and pruned", () => {
  const ring0 = newGossipKeyRing(random, 0);
  const oldKeys = wireGossipKeys(ring0);
  const ring1 = rotateGossipKeyRing(ring0, random, 10_000, 5_000);
  const keys1 = wireGossipKeys(ring1);
  assert.equal(keys1.current, 2);
  assert.deepEqual(
    keys1.keys.map((k) => k.id),
    [2, 1],
  );
  assert.equal(nextGossipKeyExpiry(ring1), 15_000);
  const fromOld = seal(oldKeys);
  assert.ok(open(keys1, fromOld, topicOf("n1"), 14_999).ok, "within the grace");
  assert.equal(codeOf(open(keys1, fromOld, topicOf("n1"), 15_000)), "expired-key");
  // The new key is used by updated peers and opens for everyone who has the ring.
  const fromNew = seal(keys1);
  const env = decodeMessage(fromNew, "gossip");
  assert.ok(env.ok);
  assert.equal(env.message.keyId, 2);
  assert.ok(open(keys1, fromNew, topicOf("n1"), 99_999).ok);
  // Pruned by the leader once the grace ends: the ring holds only the current key.
  assert.equal(pruneGossipKeyRing(ring1, 14_999), ring1);
  const pruned = pruneGossipKeyRing(ring1, 15_000);
  assert.deepEqual(
    pruned.keys.map((k) => k.id),
    [2],
  );
  assert.equal(codeOf(open(wireGossipKeys(pruned), fromOld, topicOf("n1"), 0)), "unknown-key");
  // Grace 0: the old key leaves the ring at once.
  const now = rotateGossipKeyRing(ring0, random, 10_000, 0);
  assert.deepEqual(
    now.keys.map((k) => k.id),
    [2],
  );
  assert.equal(codeOf(open(wireGossipKeys(now), fromOld, topicOf("n1"), 10_000)), "unknown-key");
  // A ring an agent holds past a retired key's end refuses it even before the leader prunes.
  const held = {
    ...keys1,
    keys: keys1.keys.map((k) => (k.id === 1 ? { ...k, until: 12_000 } : k)),
  };
  assert.equal(codeOf(open(held, fromOld, topicOf("n1"), 12_000)), "expired-key");
});

test("property: rotations keep the ring bounded, valid, with fresh distinct keys", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(10_000_000), { minLength: 1, maxLength: 30 }), (graces) => {
      let ring = newGossipKeyRing(random, 0);
      let now = 0;
      for (const g of graces) {
        now += 1000;
        const next = rotateGossipKeyRing(ring, random, now, g);
        assert.equal(next.current, ring.current + 1);
        ring = next;
        assert.equal(gossipKeyRingProblem(ring), undefined);
        assert.ok(ring.keys.length <= limits.gossipKeysMax);
        assert.equal(new Set(ring.keys.map((k) => k.key)).size, ring.keys.length);
        assert.ok(ring.keys.every((k) => k.id === ring.current || (k.until ?? 0) > now));
      }
      assert.ok(!JSON.stringify(gossipKeyRingView(ring)).includes(ring.keys[0]!.key));
    }),
    { numRuns: 100 },
  );
});

test("damaged rings are named; timing grows with the fleet", () => {
  assert.match(gossipKeyRingProblem({ current: 3, keys: [] }) ?? "", /1-8 keys/);
  assert.match(
    gossipKeyRingProblem({ current: 3, keys: [{ id: 1, key: "00".repeat(32), createdAt: 0 }] }) ??
      "",
    /current key 3/,
  );
  assert.match(
    gossipKeyRingProblem({ current: 1, keys: [{ id: 1, key: "zz", createdAt: 0 }] }) ?? "",
    /hex/,
  );
  assert.equal(gossipKeyRingProblem(null), "not a key ring");
  assert.equal(gossipTiming(10).refreshMs, limits.gossipRefreshMsMin);
  assert.equal(gossipTiming(1000).refreshMs, 1_000_000);
  assert.equal(gossipTiming(1000).staleMs, 3_000_000);
  assert.ok(gossipTiming(0).minIntervalMs >= limits.gossipIntervalMsMin);
});

function codeOf(r: ReturnType<typeof openGossip>): string {
  return r.ok ? "opened" : r.error.code;
}
