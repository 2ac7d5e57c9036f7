// The agent's side of sealed gossip (core/gossip.ts): it keeps the cluster's key ring (from its
// assignments, persisted in the data dir so gossip works offline), publishes its own status on
// `gossip/<node>` (retained, QoS 0; on change and periodically, rate-bounded) and keeps a table
// of its peers from `gossip/+`, expiring stale ones. The table goes to `gossip-peers.json` in the
// data dir (`edge-agent peers --data-dir D` prints it): useful when no manager is reachable.
// A refused message (unknown or expired key, tampered, wrong sender, malformed) costs only itself.
// Gossip runs while both the agent's own setting (`--gossip`) and the cluster's (the assignment's
// gossipEnabled, kept in the data dir) say on; told off, the agent stops publishing, unsubscribes
// `gossip/+`, clears its own retained status and forgets its peers; told on again, it resumes.

import type { AssignedTask, TaskStatusUpdate, WireGossipKeys } from "../core/codec/index.ts";
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
import {
  loadGossipKeys,
  loadGossipSwitch,
  sameKeys,
  saveGossipKeys,
  saveGossipSwitch,
} from "./gossip-files.ts";
import { type Peer, PeerBook } from "./gossip-peers.ts";

export { GOSSIP_KEYS_FILE, GOSSIP_SWITCH_FILE, loadGossipKeys } from "./gossip-files.ts";
export type { Peer } from "./gossip-peers.ts";

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
  /** The agent's own setting (`--gossip off`: false), which wins over the cluster's. */
  own?: boolean;
  /** Subscribes `gossip/+` on the session, now and on every later connection (and undoes it).
   * Absent in tests whose bus delivers everything. */
  subscribe?(filter: string): void;
  unsubscribe?(filter: string): void;
}

export class GossipAgent {
  readonly #o: GossipOptions;
  readonly topic: string;
  readonly filter: string;
  #keys: WireGossipKeys | undefined;
  #tasks: { version: number; tasks: AssignedTask[] };
  readonly #peers: PeerBook;
  #last: GossipStatus | undefined;
  #lastMs = 0;
  #keyChanged = false;
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The cluster's switch (the last assignment's, or the data dir's at start). */
  #cluster: boolean;
  /** Between start() and stop(). */
  #running = false;
  #subscribed = false;
  /** Told off: our retained status is still to be cleared (retried while offline). */
  #clearPending = false;
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
    this.#cluster = o.dataDir ? loadGossipSwitch(o.dataDir, o.log) : true;
    this.#tasks = { version: 0, tasks: o.tasks };
    this.#peers = new PeerBook(o.nodeId, o.dataDir, o.log);
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
    return this.#peers.list();
  }

  /** Gossiping now: the agent's own setting and the cluster's both say on. */
  get active(): boolean {
    return this.#o.own !== false && this.#cluster;
  }

  start(): void {
    this.#running = true;
    if (this.active && !this.#subscribed) {
      this.#subscribed = true;
      this.#o.subscribe?.(this.filter);
    }
    this.#tick();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The cluster switched gossip on or off (an assignment said so). */
  #switch(on: boolean): void {
    this.#cluster = on;
    const mine = this.#o.own === false ? "; this agent's own --gossip off still holds" : "";
    this.#o.log?.(`gossip: ${on ? "on" : "off"} (the cluster's setting)${mine}`);
    if (this.#o.dataDir) {
      try {
        saveGossipSwitch(this.#o.dataDir, on);
      } catch (err) {
        this.#o.log?.(`gossip: switch not saved: ${(err as Error).message}`);
      }
    }
    if (this.#o.own === false) return; // never published, never subscribed: nothing to undo
    if (!on) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (this.#subscribed) this.#o.unsubscribe?.(this.filter);
      this.#subscribed = false;
      this.#clearPending = true;
      this.#last = undefined;
      this.#lastMs = 0;
      this.#peers.clear();
    }
    if (this.#running) this.start();
  }

  /** An assignment arrived: its tasks and, when present, the cluster's key ring. */
  onAssignment(a: {
    version: number;
    tasks: AssignedTask[];
    gossip?: WireGossipKeys;
    gossipEnabled?: boolean;
  }): void {
    // An older assignment (a stale retained one at connect) changes neither tasks nor ring.
    if (a.version < this.#tasks.version) return;
    this.#tasks = { version: a.version, tasks: a.tasks };
    // Absent (a manager from before the switch): on.
    const on = a.gossipEnabled !== false;
    if (on !== this.#cluster) this.#switch(on);
    const g = a.gossip;
    if (!g || sameKeys(g, this.#keys)) return;
    const rotated = g.current !== this.#keys?.current;
    this.#keys = g;
    this.#keyChanged ||= rotated;
    this.#o.log?.(`gossip: key ring ${g.keys.map((k) => k.id).join(",")} (current ${g.current})`);
    if (this.#o.dataDir) {
      try {
        saveGossipKeys(this.#o.dataDir, g);
      } catch (err) {
        this.#o.log?.(`gossip: key ring not saved: ${(err as Error).message}`);
      }
    }
    if (rotated && this.active && this.#running) this.#reschedule(0);
  }

  /** A message on `gossip/+` (our own included: it is skipped). */
  onMessage(topic: string, payload: Uint8Array): void {
    // Our own, or one in flight when gossip was switched off.
    if (topic === this.topic || !this.active) return;
    if (payload.length === 0) {
      // A retained status cleared: only a manager (node removed) or the node itself may.
      const gone = gossipSender(this.#o.clusterId, topic);
      if (gone) this.#peers.delete(gone);
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
    this.#peers.set({
      nodeId: st.nodeId,
      hostname: st.hostname,
      timeMs: st.timeMs,
      receivedMs: now,
      keyId: r.keyId,
      services: st.services,
    });
  }

  #logRefusal(code: string, message: string, topic: string): void {
    const now = this.#now();
    if (now - (this.#logged.get(code) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    this.#logged.set(code, now);
    this.#o.log?.(`gossip: refused on ${topic} [${code}]: ${message}`);
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
    if (!this.active) {
      this.#quiet();
      return;
    }
    const t = this.timing;
    const now = this.#now();
    try {
      this.#peers.expire(now, t.staleMs);
      this.#maybePublish(now, t);
      this.#peers.save(now, false);
    } catch (err) {
      this.#o.log?.(`gossip: ${(err as Error).message}`);
    }
    const wait = Math.max(t.minIntervalMs - (now - this.#lastMs), 0);
    this.#reschedule(Math.max(wait, Math.min(t.minIntervalMs, 1000)));
  }

  /** Off: the peer table says so on disk, and our retained status is cleared (an empty
   * retained payload; receivers drop the peer), retried every second while offline. */
  #quiet(): void {
    this.#peers.save(this.#now(), true);
    if (!this.#clearPending || !this.#running) return;
    if (this.#o.publish(this.topic, new Uint8Array(0))) {
      this.#clearPending = false;
      this.#o.log?.(`gossip: own retained status cleared (${this.topic})`);
    } else this.#reschedule(1000);
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
  own: boolean;
  subscribe: (filter: string) => void;
  unsubscribe: (filter: string) => void;
}): GossipAgent {
  return new GossipAgent({ ...o, cipher: aesGcm, nonce: gossipNonce });
}
