// Sealed gossip (DESIGN §6): each agent publishes a small status, retained at QoS 0, on
// `fleet/<cluster>/gossip/<node>`; every agent subscribes to `gossip/+` and keeps a peer table.
// The payload is a `gossip` envelope {keyId, nonce, sealed}: the CBOR status sealed with an AEAD
// (AES-256-GCM in edge-agent/gossip-cipher.ts; injected here, core stays pure) under the
// cluster's key `keyId`, the additional data binding the protocol, the topic (so the sender's
// node id) and the key id. Opening refuses, with a GossipError and nothing else lost: oversized
// or malformed payloads, unknown or expired keys, anything that does not authenticate, and a
// status naming another node than its topic.

import { decodeCbor, encodeCbor } from "./codec/cbor.ts";
import { decodeMessage, encodeMessage, type WireGossipKeys } from "./codec/messages.ts";
import { shape as s } from "./codec/shape.ts";
import { FleetError } from "./errors.ts";
import { limits } from "./limits.ts";
import { isTopicId, TOPIC_ROOT, topics } from "./topics.ts";

export const GOSSIP_NONCE_BYTES = 12;
const AAD_LABEL = "fleet/gossip/v1";

/** An AEAD: `seal` returns ciphertext and tag; `open` undefined when it does not authenticate. */
export interface GossipCipher {
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array | undefined;
}

/** Running tasks of one service on the sender, by name. */
export interface GossipService {
  name: string;
  running: number;
  tasks: number;
}

/** What an agent tells its peers. Nothing secret: node id, host name, time, services. */
export interface GossipStatus {
  nodeId: string;
  hostname: string;
  /** The sender's clock, ms since the epoch. */
  timeMs: number;
  /** Increases with every message of one agent run. */
  seq: number;
  services: GossipService[];
}

const statusShape = s.object({
  nodeId: s.string(128, 1),
  hostname: s.string(253),
  timeMs: s.int(),
  seq: s.int(),
  services: s.array(
    s.object({
      name: s.string(limits.nameLengthMax),
      running: s.int(0, 100_000),
      tasks: s.int(0, 100_000),
    }),
    limits.gossipServicesMax,
  ),
});

export type GossipErrorCode =
  | "malformed"
  | "oversized"
  | "wrong-topic"
  | "unknown-key"
  | "expired-key"
  | "tampered"
  | "wrong-sender";

export class GossipError extends FleetError {
  override readonly code: GossipErrorCode;
  constructor(code: GossipErrorCode, message: string) {
    super("gossip", code, message, false);
    this.name = "GossipError";
    this.code = code;
  }
}

/** `fleet/<cluster>/gossip/<node>` → the node id; undefined for any other topic. */
export function gossipSender(clusterId: string, topic: string): string | undefined {
  const p = topic.split("/");
  if (p.length !== 4 || p[0] !== TOPIC_ROOT || p[1] !== clusterId || p[2] !== "gossip")
    return undefined;
  return isTopicId(p[3]!) ? p[3] : undefined;
}

/** The additional data: protocol, topic (cluster and sender), key id; length-prefixed. */
export function gossipAad(topic: string, keyId: number): Uint8Array {
  return encodeCbor([AAD_LABEL, topic, keyId]);
}

/** The key `keyId` of a ring if it may open messages at `nowMs`. */
function keyFor(keys: WireGossipKeys, keyId: number, nowMs: number): Uint8Array | GossipError {
  const k = keys.keys.find((x) => x.id === keyId);
  if (!k)
    return new GossipError(
      "unknown-key",
      `sealed with key ${keyId}, which this node does not hold`,
    );
  if (k.id !== keys.current && k.until !== undefined && k.until <= nowMs)
    return new GossipError("expired-key", `sealed with key ${keyId}, whose grace has ended`);
  return k.key;
}

export interface SealInput {
  cipher: GossipCipher;
  keys: WireGossipKeys;
  clusterId: string;
  status: GossipStatus;
  /** GOSSIP_NONCE_BYTES fresh random bytes: never reuse one under a key. */
  nonce: Uint8Array;
}

/** The payload to publish on the sender's gossip topic, sealed with the current key. */
export function sealGossip(i: SealInput): Uint8Array {
  if (i.nonce.length !== GOSSIP_NONCE_BYTES)
    throw new Error(`assertion failed: a gossip nonce is ${GOSSIP_NONCE_BYTES} bytes`);
  const bad = statusShape(i.status, "", 0);
  if (bad) throw new Error(`assertion failed: refusing to seal an invalid status: ${bad}`);
  const key = i.keys.keys.find((k) => k.id === i.keys.current);
  if (!key) throw new Error("assertion failed: the gossip key ring lacks its current key");
  const topic = topics(i.clusterId).gossip(i.status.nodeId);
  const plain = encodeCbor(i.status, limits.gossipBytesMax);
  const sealed = i.cipher.seal(key.key, i.nonce, gossipAad(topic, key.id), plain);
  return encodeMessage("gossip", { keyId: key.id, nonce: i.nonce, sealed }, limits.gossipBytesMax);
}

export interface OpenInput {
  cipher: GossipCipher;
  keys: WireGossipKeys;
  clusterId: string;
  topic: string;
  payload: Uint8Array;
  nowMs: number;
}

export type Opened =
  | { ok: true; status: GossipStatus; keyId: number }
  | { ok: false; error: GossipError };

const fail = (code: GossipErrorCode, message: string): Opened => ({
  ok: false,
  error: new GossipError(code, message),
});

/** Opens one received gossip payload. Never throws: every refusal is a GossipError. */
export function openGossip(i: OpenInput): Opened {
  const sender = gossipSender(i.clusterId, i.topic);
  if (!sender) return fail("wrong-topic", `not a gossip topic of cluster ${i.clusterId}`);
  if (i.payload.length > limits.gossipBytesMax)
    return fail("oversized", `${i.payload.length} bytes, limit ${limits.gossipBytesMax}`);
  const d = decodeMessage(i.payload, "gossip", limits.gossipBytesMax);
  if (!d.ok) return fail("malformed", d.error.message);
  const { keyId, nonce, sealed } = d.message;
  if (nonce.length !== GOSSIP_NONCE_BYTES)
    return fail("malformed", `a nonce is ${GOSSIP_NONCE_BYTES} bytes`);
  const key = keyFor(i.keys, keyId, i.nowMs);
  if (key instanceof GossipError) return { ok: false, error: key };
  let plain: Uint8Array | undefined;
  try {
    plain = i.cipher.open(key, nonce, gossipAad(i.topic, keyId), sealed);
  } catch {
    plain = undefined;
  }
  if (!plain) return fail("tampered", `does not authenticate under key ${keyId} for ${sender}`);
  let status: unknown;
  try {
    status = decodeCbor(plain, limits.gossipBytesMax);
  } catch (err) {
    return fail("malformed", `sealed content: ${(err as Error).message}`);
  }
  const bad = statusShape(status, "", 0);
  if (bad) return fail("malformed", `sealed status: ${bad}`);
  const st = status as GossipStatus;
  if (st.nodeId !== sender)
    return fail("wrong-sender", `status of ${st.nodeId} published on the topic of ${sender}`);
  return { ok: true, status: st, keyId };
}

export interface GossipTiming {
  /** Republish at least this often. */
  refreshMs: number;
  /** Never publish more often than this (changes included). */
  minIntervalMs: number;
  /** A peer not heard from for this long leaves the table. */
  staleMs: number;
}

/**
 * Gossip is all-to-all: with N agents the brokers deliver N² messages per round. Periods grow
 * with the peers an agent knows, so each agent receives about one refresh per second from the
 * whole fleet, whatever its size (60 s up to 60 peers, 1,000 s at 1,000 peers).
 */
export function gossipTiming(peers: number): GossipTiming {
  const n = Math.max(0, Math.min(peers, limits.gossipPeersMax));
  const refreshMs = Math.max(limits.gossipRefreshMsMin, n * limits.gossipRefreshMsPerPeer);
  const minIntervalMs = Math.max(limits.gossipIntervalMsMin, Math.floor(refreshMs / 12));
  return { refreshMs, minIntervalMs, staleMs: refreshMs * limits.gossipStalePeriods };
}

/** Whether two statuses differ in what peers care about (not time or seq). */
export function statusChanged(a: GossipStatus | undefined, b: GossipStatus): boolean {
  if (!a) return true;
  return a.hostname !== b.hostname || JSON.stringify(a.services) !== JSON.stringify(b.services);
}
