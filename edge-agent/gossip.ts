// The agent's side of sealed gossip (core/gossip.ts): it keeps the cluster's key ring (from its
// assignments, persisted in the data dir so gossip works offline), publishes its own status on
// `gossip/<node>` (retained, QoS 0; on change and periodically, rate-bounded) and keeps a table
// of its peers from `gossip/+`, expiring stale ones. The table goes to `gossip-peers.json` in the
// data dir (`edge-agent peers --data-dir D` prints it): useful when no manager is reachable.
// A refused message (unknown or expired key, tampered, wrong sender, malformed) costs only itself.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AssignedTask, TaskStatusUpdate, WireGossipKeys } from "../core/codec/index.ts";
import { checkMessage, decodeCbor, encodeCbor } from "../core/codec/index.ts";
import {
  type GossipCipher,
  GossipError,
  type GossipErrorCode,
  type GossipService,
  type GossipStatus,
  type GossipTiming,
  gossipSender,
  gossipTiming,
  type Opened,
  openGossip,
  sealGossip,
  statusChanged,
} from "../core/gossip.ts";
import { limits } from "../core/limits.ts";
import { TaskState } from "../core/model/task-state.ts";
import { topics } from "../core/topics.ts";
import { aesGcm, gossipNonce } from "./gossip-cipher.ts";
import { writePeers } from "./gossip-peers.ts";
import { atomicWrite } from "./state/state.ts";

export const GOSSIP_KEYS_FILE = "gossip-keys.cbor";
/** The peer table file is rewritten for new times at most this often. */
const PEERS_WRITE_MS = 10_000;

export interface Peer {
  nodeId: string;
  hostname: string;
  /** The peer's own clock when it sent its status. */
  timeMs: number;
  /** When this agent received it (its clock). */
  receivedMs: number;
  keyId: number;
  services: GossipService[];
}

export interface GossipOptions {
  clusterId: string;
  nodeId: string;
  hostname: string;
  /** Where the key ring and the peer table are kept; none in some tests. */
  dataDir?: string;
  publish(topic: string, payload: Uint8Array): boolean;
  /** Every task's current status (the worker's). */
  statuses(): TaskStatusUpdate[];
  /** The tasks of the last applied assignment at start (the state file's). */
  tasks: AssignedTask[];
  cipher: GossipCipher;
  nonce(): Uint8Array;
  now?: () => number;
  timing?: (peers: number) => GossipTiming;
  log?: (line: string) => void;
}

/** Loads the persisted key ring; undefined when absent or damaged (reported). */
export function loadGossipKeys(
  dataDir: string,
  log?: (l: string) => void,
): WireGossipKeys | undefined {
  const path = join(dataDir, GOSSIP_KEYS_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const keys = decodeCbor(readFileSync(path)) as WireGossipKeys;
    const bad = checkMessage(
      { v: 1, type: "assign", version: 0, tasks: [], gossip: keys },
      "assign",
    );
    if (bad) throw new Error(bad.message);
    return { ...keys, keys: keys.keys.map((k) => ({ ...k, key: new Uint8Array(k.key) })) };
  } catch (err) {
    log?.(`gossip: ${path} ignored: ${(err as Error).message}`);
    return undefined;
  }
}

export class GossipAgent {
  readonly #o: GossipOptions;
  readonly topic: string;
  readonly filter: string;
  #keys: WireGossipKeys | undefined;
  #tasks: { version: number; tasks: AssignedTask[] };
  readonly #peers = new Map<string, Peer>();
  #last: GossipStatus | undefined;
  #lastMs = 0;
  #keyChanged = false;
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #peersDirty = true;
  /** A peer came or went since the table was last written (written at the next check). */
  #membersChanged = true;
  #peersWrittenMs = Number.NEGATIVE_INFINITY;
  readonly #logged = new Map<string, number>();
  readonly stats = {
    published: 0,
    opened: 0,
    refused: {} as Partial<Record<GossipErrorCode, number>>,
  };

  constructor(o: GossipOptions) {
    this.#o = o;
    const t = topics(o.clusterId);
    this.topic = t.gossip(o.nodeId);
    this.filter = t.gossipFilter;
    this.#keys = o.dataDir ? loadGossipKeys(o.dataDir, o.log) : undefined;
    this.#tasks = { version: 0, tasks: o.tasks };
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  get timing(): GossipTiming {
    return (this.#o.timing ?? gossipTiming)(this.#peers.size);
  }

  /** The key ring held now (tests, diagnostics). */
  get keys(): WireGossipKeys | undefined {
    return this.#keys;
  }

  peers(): Peer[] {
    return [...this.#peers.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  start(): void {
    this.#tick();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** An assignment arrived: its tasks and, when present, the cluster's key ring. */
  onAssignment(a: { version: number; tasks: AssignedTask[]; gossip?: WireGossipKeys }): void {
    // An older assignment (a stale retained one at connect) changes neither tasks nor ring.
    if (a.version < this.#tasks.version) return;
    this.#tasks = { version: a.version, tasks: a.tasks };
    const g = a.gossip;
    if (!g || sameKeys(g, this.#keys)) return;
    const rotated = g.current !== this.#keys?.current;
    this.#keys = g;
    this.#keyChanged ||= rotated;
    this.#o.log?.(`gossip: key ring ${g.keys.map((k) => k.id).join(",")} (current ${g.current})`);
    if (this.#o.dataDir) {
      try {
        atomicWrite(join(this.#o.dataDir, GOSSIP_KEYS_FILE), encodeCbor(g));
      } catch (err) {
        this.#o.log?.(`gossip: key ring not saved: ${(err as Error).message}`);
      }
    }
    if (rotated) this.#reschedule(0);
  }

  /** A message on `gossip/+` (our own included: it is skipped). */
  onMessage(topic: string, payload: Uint8Array): void {
    if (topic === this.topic) return;
    if (payload.length === 0) {
      // A retained status cleared: only a manager (node removed) or the node itself may.
      const gone = gossipSender(this.#o.clusterId, topic);
      if (gone && this.#peers.delete(gone)) this.#peersDirty = this.#membersChanged = true;
      return;
    }
    const keys = this.#keys;
    const now = this.#now();
    const r: Opened = keys
      ? openGossip({
          cipher: this.#o.cipher,
          keys,
          clusterId: this.#o.clusterId,
          topic,
          payload,
          nowMs: now,
        })
      : { ok: false, error: new GossipError("unknown-key", "no gossip key yet (no assignment)") };
    if (!r.ok) {
      const { code, message } = r.error;
      this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
      this.#logRefusal(code, message, topic);
      return;
    }
    this.stats.opened++;
    const st = r.status;
    const old = this.#peers.get(st.nodeId);
    // An older status delivered late is ignored (judged by the sender's clock, but never by a
    // time ahead of when we received it: a peer whose clock jumped back is still heard).
    if (old && Math.min(old.timeMs, old.receivedMs) > st.timeMs) return;
    const seen = Math.min(now, st.timeMs);
    if (now - seen > this.timing.staleMs) return; // a retained status of a peer gone quiet
    if (!old && this.#peers.size >= limits.gossipPeersMax) this.#dropStalest();
    if (!old) this.#membersChanged = true;
    this.#peers.set(st.nodeId, {
      nodeId: st.nodeId,
      hostname: st.hostname,
      timeMs: st.timeMs,
      receivedMs: now,
      keyId: r.keyId,
      services: st.services,
    });
    this.#peersDirty = true;
  }

  #logRefusal(code: string, message: string, topic: string): void {
    const now = this.#now();
    if (now - (this.#logged.get(code) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    this.#logged.set(code, now);
    this.#o.log?.(`gossip: refused on ${topic} [${code}]: ${message}`);
  }

  #dropStalest(): void {
    let worst: Peer | undefined;
    for (const p of this.#peers.values()) if (!worst || p.receivedMs < worst.receivedMs) worst = p;
    if (worst) this.#peers.delete(worst.nodeId);
  }

  /** The status this agent would publish now. */
  status(): GossipStatus {
    const states = new Map(this.#o.statuses().map((s) => [s.taskId, s.state]));
    const by = new Map<string, GossipService>();
    for (const t of this.#tasks.tasks) {
      if (t.desiredState > TaskState.RUNNING) continue;
      const name = t.serviceName || t.serviceId;
      const e = by.get(name) ?? { name: name.slice(0, limits.nameLengthMax), running: 0, tasks: 0 };
      e.tasks++;
      if (states.get(t.id) === TaskState.RUNNING) e.running++;
      by.set(name, e);
    }
    const services = [...by.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .slice(0, limits.gossipServicesMax);
    return {
      nodeId: this.#o.nodeId,
      hostname: this.#o.hostname.slice(0, 253),
      timeMs: this.#now(),
      seq: this.#seq,
      services,
    };
  }

  #reschedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), ms);
    this.#timer.unref?.();
  }

  #tick(): void {
    const t = this.timing;
    const now = this.#now();
    try {
      this.#expire(now, t.staleMs);
      this.#maybePublish(now, t);
      this.#savePeers(now);
    } catch (err) {
      this.#o.log?.(`gossip: ${(err as Error).message}`);
    }
    const wait = Math.max(t.minIntervalMs - (now - this.#lastMs), 0);
    this.#reschedule(Math.max(wait, Math.min(t.minIntervalMs, 1000)));
  }

  #expire(now: number, staleMs: number): void {
    for (const p of this.#peers.values()) {
      if (now - Math.min(p.receivedMs, p.timeMs) > staleMs) {
        this.#peers.delete(p.nodeId);
        this.#peersDirty = this.#membersChanged = true;
      }
    }
  }

  #maybePublish(now: number, t: GossipTiming): void {
    const keys = this.#keys;
    // A new current key goes out at once (rotations are rare and operator-made).
    if (!keys || (!this.#keyChanged && now - this.#lastMs < t.minIntervalMs)) return;
    const next = this.status();
    const due =
      this.#keyChanged || statusChanged(this.#last, next) || now - this.#lastMs >= t.refreshMs;
    if (!due) return;
    next.seq = ++this.#seq;
    const payload = sealGossip({
      cipher: this.#o.cipher,
      keys,
      clusterId: this.#o.clusterId,
      status: next,
      nonce: this.#o.nonce(),
    });
    if (!this.#o.publish(this.topic, payload)) return; // offline: try again next tick
    this.stats.published++;
    this.#last = next;
    this.#lastMs = now;
    this.#keyChanged = false;
  }

  #savePeers(now: number): void {
    if (!this.#peersDirty || !this.#o.dataDir) return;
    // New times alone are written at most every PEERS_WRITE_MS (SD cards wear); arrivals and
    // departures at once.
    if (!this.#membersChanged && now - this.#peersWrittenMs < PEERS_WRITE_MS) return;
    this.#peersDirty = this.#membersChanged = false;
    this.#peersWrittenMs = now;
    try {
      writePeers(this.#o.dataDir, { nodeId: this.#o.nodeId, writtenMs: now, peers: this.peers() });
    } catch (err) {
      this.#o.log?.(`gossip: peer table not saved: ${(err as Error).message}`);
    }
  }
}

function sameKeys(a: WireGossipKeys, b: WireGossipKeys | undefined): boolean {
  if (!b || a.current !== b.current || a.keys.length !== b.keys.length) return false;
  return a.keys.every((k, i) => {
    const o = b.keys[i]!;
    return k.id === o.id && k.until === o.until && Buffer.compare(k.key, o.key) === 0;
  });
}

/** The agent's gossip as agent.ts wires it: sealed with AES-256-GCM, published on the session. */
export function agentGossip(o: {
  clusterId: string;
  nodeId: string;
  hostname: string;
  dataDir: string;
  tasks: AssignedTask[];
  statuses: () => TaskStatusUpdate[];
  publish: (topic: string, payload: Uint8Array) => boolean;
  log: (line: string) => void;
}): GossipAgent {
  return new GossipAgent({ ...o, cipher: aesGcm, nonce: gossipNonce });
}
