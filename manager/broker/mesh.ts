// The broker mesh: the brokers of all managers, fully meshed, behave as one broker for the
// fleet's topics. Each broker forwards only what its own clients (and the manager itself)
// publish, once, to every peer over that peer's link; what arrives over a mesh link is
// delivered locally and never forwarded again, so there are no loops and, in a full mesh,
// every broker sees each message exactly once. Resends after a reconnect are dropped by
// sequence number. Retained topics carry a version (hybrid clock + origin id) and the newest
// version wins on every broker, so concurrent writes and the sync a peer receives on every
// (re)connect converge to the same retained state everywhere.

import { randomInt } from "node:crypto";
import { limits } from "../../core/limits.ts";
import type { ManagerClientTls } from "../tls-server.ts";
import type { Broker, Message, PublishGate, PublishOrigin } from "./broker.ts";
import {
  compareVersions,
  decodeEnvelope,
  SeqWindow,
  type Version,
  VersionClock,
} from "./envelope.ts";
import {
  type LinkStats,
  type MeshPeer,
  type MeshReport,
  type Outgoing,
  PeerLink,
} from "./peer-link.ts";

export type { LinkStats, MeshPeer, MeshReport } from "./peer-link.ts";

export interface MeshOptions {
  broker: Broker;
  /** This broker's id in the mesh (the manager id); defaults to the broker's id. */
  selfId?: string;
  /** Insecure mode: the credential every broker of the mesh accepts (`meshSecret`). */
  secret?: string;
  /**
   * Secure mode: TLS client options with this manager's certificate (manager/secure.ts
   * meshTls), read at each connect; links dial mqtts:// and the peer checks the certificate.
   */
  tls?: () => ManagerClientTls;
  report?: (r: MeshReport) => void;
  /** Per-peer queue bounds; default to limits.meshQueueMessagesMax and meshQueueBytesMax. */
  queueMessagesMax?: number;
  queueBytesMax?: number;
  /** Injected for tests; Math.random and Date.now otherwise. */
  random?: () => number;
  now?: () => number;
}

export interface MeshStats {
  links: LinkStats[];
  /** Messages from peers dropped as resends of ones already delivered. */
  duplicatesDropped: number;
  /** Messages from peers that were not well-formed envelopes (the link is cut). */
  badEnvelopes: number;
}

interface Receiver {
  epoch: number;
  window: SeqWindow;
}

export class Mesh implements PublishGate {
  readonly #o: MeshOptions;
  readonly #selfId: string;
  readonly #epoch = randomInt(0, 2 ** 32);
  readonly #clock: VersionClock;
  readonly #links = new Map<string, PeerLink>();
  readonly #receivers = new Map<string, Receiver>();
  /** Version of each retained topic's current value. */
  readonly #values = new Map<string, Version>();
  /** Version of recent clears, oldest first, bounded. */
  readonly #tombstones = new Map<string, Version>();
  #duplicates = 0;
  #badEnvelopes = 0;
  #closed = false;

  constructor(opts: MeshOptions) {
    this.#o = opts;
    this.#selfId = opts.selfId ?? opts.broker.id;
    this.#clock = new VersionClock(this.#selfId, opts.now ?? Date.now);
    opts.broker.setGate(this);
  }

  /** Sets the peer brokers (self is ignored); links to removed or moved peers are closed. */
  setPeers(peers: MeshPeer[]): void {
    if (this.#closed) return;
    const wanted = new Map(peers.filter((p) => p.id !== this.#selfId).map((p) => [p.id, p]));
    for (const [id, link] of this.#links) {
      if (wanted.get(id)?.url !== link.peer.url) {
        this.#links.delete(id);
        void link.close();
      }
    }
    for (const [id, peer] of wanted) {
      if (!this.#links.has(id)) this.#links.set(id, this.#openLink(peer));
    }
  }

  stats(): MeshStats {
    return {
      links: [...this.#links.values()].map((l) => l.stats()),
      duplicatesDropped: this.#duplicates,
      badEnvelopes: this.#badEnvelopes,
    };
  }

  /** Closes every link and detaches from the broker (which keeps running alone). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#o.broker.setGate(undefined);
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map((l) => l.close()));
  }

  /** The broker's gate: every publish passes here after authorization. */
  admit(message: Message, origin: PublishOrigin): boolean {
    if (origin.kind === "mesh") return this.#receive(message, origin.session.identity.principal);
    if (this.#closed || message.topic.startsWith("$")) return true;
    let version: Version | undefined;
    if (message.retain) {
      version = this.#clock.next();
      this.#record(message.topic, version, message.payload.length === 0);
    }
    const { topic, payload, retain } = message;
    const out: Outgoing = { topic, payload, qos: message.qos === 0 ? 0 : 1, retain, version };
    for (const link of this.#links.values()) link.send(out);
    return true;
  }

  #openLink(peer: MeshPeer): PeerLink {
    return new PeerLink({
      selfId: this.#selfId,
      peer,
      secret: this.#o.secret,
      tls: this.#o.tls,
      epoch: this.#epoch,
      random: this.#o.random ?? Math.random,
      queueMessagesMax: this.#o.queueMessagesMax ?? limits.meshQueueMessagesMax,
      queueBytesMax: this.#o.queueBytesMax ?? limits.meshQueueBytesMax,
      report: (r) => this.#report(r),
      retainedSnapshot: () => this.#snapshot(),
    });
  }

  #report(r: MeshReport): void {
    try {
      this.#o.report?.(r);
    } catch {
      // A failing report sink must not break a link.
    }
  }

  /** A message from a peer: unwrap, drop resends, settle retained versions. */
  #receive(message: Message, peer: string): boolean {
    const env = decodeEnvelope(message.payload);
    if (!env) {
      this.#badEnvelopes++;
      this.#report({ kind: "bad-envelope", peer, message: `on ${message.topic}; link cut` });
      throw new Error(`mesh: malformed envelope from ${peer}`);
    }
    let r = this.#receivers.get(peer);
    if (!r || r.epoch !== env.epoch) {
      r = { epoch: env.epoch, window: new SeqWindow(limits.meshDedupWindowMessages) };
      this.#receivers.set(peer, r);
    }
    if (!r.window.accept(env.seq)) {
      if (this.#duplicates++ === 0) {
        this.#report({ kind: "duplicate", peer, message: `resend of ${message.topic} dropped` });
      }
      return false;
    }
    message.payload = env.payload;
    if (!message.retain || !env.version) return true;
    return this.#settleRetained(message, env.version, env.sync);
  }

  /**
   * Last writer wins. A newer version is stored and delivered; an older live one is still
   * delivered to subscribers but not stored; the same version again, an older sync item and a
   * synced clear for a topic this broker holds nothing for are swallowed.
   */
  #settleRetained(message: Message, v: Version, sync: boolean): boolean {
    this.#clock.observe(v);
    const topic = message.topic;
    const clear = message.payload.length === 0;
    const local = this.#values.get(topic) ?? this.#tombstones.get(topic);
    const order = local ? compareVersions(v, local) : 1;
    if (order > 0) {
      const held = this.#values.has(topic);
      this.#record(topic, v, clear);
      return !(sync && clear && !held);
    }
    // The same write again (its version is unique), or an older one during a sync: swallow.
    if (sync || order === 0) return false;
    message.retain = false;
    return true;
  }

  #record(topic: string, v: Version, clear: boolean): void {
    if (!clear) {
      this.#values.set(topic, v);
      this.#tombstones.delete(topic);
      return;
    }
    this.#values.delete(topic);
    this.#tombstones.delete(topic);
    this.#tombstones.set(topic, v);
    if (this.#tombstones.size > limits.meshTombstonesMax) {
      const oldest = this.#tombstones.keys().next().value as string;
      this.#tombstones.delete(oldest);
    }
  }

  /** What a peer gets after connecting: every retained value and every remembered clear. */
  async #snapshot(): Promise<Outgoing[]> {
    const out: Outgoing[] = [];
    for (const m of await this.#o.broker.retained("#")) {
      if (m.topic.startsWith("$")) continue;
      const version = this.#values.get(m.topic) ?? { ts: 0, origin: "" };
      out.push({
        topic: m.topic,
        payload: m.payload,
        qos: m.qos === 0 ? 0 : 1,
        retain: true,
        version,
      });
    }
    for (const [topic, version] of this.#tombstones) {
      out.push({ topic, payload: Buffer.alloc(0), qos: 1, retain: true, version });
    }
    return out;
  }
}
