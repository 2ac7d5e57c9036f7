// The cluster's gossip key ring (DESIGN §6, §7): symmetric keys that seal agent-to-agent gossip,
// kept in the Raft cluster object and delivered to each agent inside its assignment (over its
// mTLS downlink). One key is current (agents seal with it); keys rotated out stay for a grace
// period (`until`), so a peer that has not yet received the new ring is still understood.
// Pure: randomness and time are injected.

import type { WireGossipKeys } from "./codec/messages.ts";
import { fromHex, toHex } from "./crypto/bytes.ts";
import { limits } from "./limits.ts";

export const GOSSIP_KEY_BYTES = 32;

/** One key as the store keeps it (JSON: the key in hex). */
export interface StoredGossipKey {
  id: number;
  key: string;
  createdAt: number;
  /** Rotated out: opens messages until this time (ms since the epoch), then is dropped. */
  until?: number;
}

export interface GossipKeyRing {
  current: number;
  keys: StoredGossipKey[];
}

export type Random = (n: number) => Uint8Array;

function freshKey(id: number, random: Random, nowMs: number): StoredGossipKey {
  const key = random(GOSSIP_KEY_BYTES);
  if (!(key instanceof Uint8Array) || key.length !== GOSSIP_KEY_BYTES)
    throw new Error(`assertion failed: random(${GOSSIP_KEY_BYTES}) gave a wrong length`);
  return { id, key: toHex(key), createdAt: nowMs };
}

/** The first ring of a cluster (founding, or a cluster from before gossip keys). */
export function newGossipKeyRing(random: Random, nowMs: number): GossipKeyRing {
  return { current: 1, keys: [freshKey(1, random, nowMs)] };
}

/** Drops keys whose grace has ended; the same object when nothing changes. */
export function pruneGossipKeyRing(ring: GossipKeyRing, nowMs: number): GossipKeyRing {
  const keys = ring.keys.filter(
    (k) => k.id === ring.current || k.until === undefined || k.until > nowMs,
  );
  return keys.length === ring.keys.length ? ring : { ...ring, keys };
}

/**
 * A new current key; the old one opens messages for `graceMs` more (0: refused at once). Keys
 * past their grace are dropped, and the ring never holds more than limits.gossipKeysMax (the
 * retired keys closest to their end go first).
 */
export function rotateGossipKeyRing(
  ring: GossipKeyRing,
  random: Random,
  nowMs: number,
  graceMs: number = limits.gossipKeyGraceMsDefault,
): GossipKeyRing {
  const id = Math.max(0, ...ring.keys.map((k) => k.id)) + 1;
  const until = nowMs + Math.max(0, graceMs);
  const retired = ring.keys.map((k) =>
    k.id === ring.current ? { ...k, until: Math.min(k.until ?? until, until) } : k,
  );
  const kept = pruneGossipKeyRing({ current: id, keys: retired }, nowMs).keys;
  kept.sort((a, b) => (b.until ?? 0) - (a.until ?? 0));
  return {
    current: id,
    keys: [freshKey(id, random, nowMs), ...kept.slice(0, limits.gossipKeysMax - 1)],
  };
}

/** The earliest time a retired key's grace ends (when the ring should next be pruned). */
export function nextGossipKeyExpiry(ring: GossipKeyRing): number | undefined {
  const ends = ring.keys.filter((k) => k.id !== ring.current && k.until !== undefined);
  return ends.length === 0 ? undefined : Math.min(...ends.map((k) => k.until!));
}

/** What an assignment carries: the keys as bytes, current first. */
export function wireGossipKeys(ring: GossipKeyRing): WireGossipKeys {
  const keys = [...ring.keys]
    .sort((a, b) => (a.id === ring.current ? -1 : b.id === ring.current ? 1 : b.id - a.id))
    .slice(0, limits.gossipKeysMax)
    .map((k) => ({
      id: k.id,
      key: fromHex(k.key),
      ...(k.until !== undefined ? { until: k.until } : {}),
    }));
  return { current: ring.current, keys };
}

/** What is wrong with a stored ring (a hand-edited or damaged cluster object), or undefined. */
export function gossipKeyRingProblem(v: unknown): string | undefined {
  const r = v as GossipKeyRing;
  if (typeof r !== "object" || r === null || !Array.isArray(r.keys)) return "not a key ring";
  if (r.keys.length === 0 || r.keys.length > limits.gossipKeysMax)
    return `a key ring holds 1-${limits.gossipKeysMax} keys`;
  for (const k of r.keys) {
    if (!Number.isSafeInteger(k?.id) || k.id < 1) return "a key id is not a positive integer";
    if (typeof k.key !== "string" || !/^[0-9a-f]{64}$/.test(k.key))
      return `key ${k.id} is not 32 bytes of hex`;
  }
  if (!r.keys.some((k) => k.id === r.current)) return `the current key ${r.current} is missing`;
  if (new Set(r.keys.map((k) => k.id)).size !== r.keys.length) return "duplicate key ids";
  return undefined;
}

/** The view an operator gets (`fleet cluster inspect`): ids and dates, never key bytes. */
export function gossipKeyRingView(r: GossipKeyRing): {
  current: number;
  keys: { id: number; createdAt: number; until?: number }[];
} {
  return {
    current: r.current,
    keys: r.keys.map(({ key: _key, ...rest }) => rest),
  };
}
