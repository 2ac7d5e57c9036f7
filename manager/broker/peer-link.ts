// One outbound mesh link: an MQTT client from this broker to one peer broker, carrying this
// broker's locally-originated publishes. It owns the link's bounded queue, its inflight window,
// the resend of unacknowledged QoS 1 messages after a reconnect (the peer drops what it already
// had by sequence number), the retained-state sync after every connect, and reconnecting with
// jittered exponential backoff. It must never block the broker: a full queue drops and reports.

import mqtt, { type MqttClient } from "mqtt";
import { limits } from "../../core/limits.ts";
import type { ManagerClientTls } from "../tls-server.ts";
import { encodeEnvelope, type Version } from "./envelope.ts";
import { Fifo } from "./fifo.ts";
import { MESH_CLIENT_PREFIX, MESH_USERNAME } from "./identify.ts";

export interface MeshPeer {
  id: string;
  /** mqtt://host:port of the peer's broker. */
  url: string;
}

/** A message to carry to the peer, payload as published (the envelope is added on the wire). */
export interface Outgoing {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  version: Version | undefined;
}

interface Item extends Outgoing {
  seq: number;
  sync: boolean;
}

export interface LinkStats {
  peer: string;
  connected: boolean;
  queued: number;
  inflight: number;
  sent: number;
  resent: number;
  dropped: number;
  connects: number;
}

export type MeshReportKind =
  | "peer-up"
  | "peer-down"
  | "dropped"
  | "duplicate"
  | "bad-envelope"
  | "sync-done";

export interface MeshReport {
  kind: MeshReportKind;
  peer: string;
  message: string;
}

export interface PeerLinkOptions {
  selfId: string;
  peer: MeshPeer;
  /** Insecure mode: the shared mesh credential. */
  secret?: string;
  /**
   * Secure mode: TLS client options with this manager's certificate, read at each connect
   * (renewal swaps them); the link then dials mqtts:// and presents no password.
   */
  tls?: () => ManagerClientTls;
  /** Random per mesh start: lets the peer tell a restarted sender from a resending one. */
  epoch: number;
  random: () => number;
  report: (r: MeshReport) => void;
  /** Queue bounds (limits.meshQueueMessagesMax / meshQueueBytesMax unless a test lowers them). */
  queueMessagesMax: number;
  queueBytesMax: number;
  /** The retained state to send after a connect, read at that moment. */
  retainedSnapshot: () => Promise<Outgoing[]>;
}

/** Exponential backoff with jitter: uniform in [cap/2, cap), cap = base·2^attempt ≤ max. */
export function backoffDelayMs(attempt: number, random: () => number): number {
  const cap = Math.min(limits.meshBackoffMaxMs, limits.meshBackoffBaseMs * 2 ** attempt);
  return cap / 2 + random() * (cap / 2);
}

export class PeerLink {
  readonly #o: PeerLinkOptions;
  readonly #queue = new Fifo<Item>();
  readonly #inflight = new Map<number, Item>();
  #queueBytes = 0;
  #sync = new Fifo<Item>();
  #syncPending = 0;
  #seq = 0;
  #client: MqttClient | undefined;
  #generation = 0;
  #connected = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #droppedSinceUp = 0;
  readonly #stats = { sent: 0, resent: 0, dropped: 0, connects: 0 };

  constructor(opts: PeerLinkOptions) {
    this.#o = opts;
    this.#connect();
  }

  get peer(): MeshPeer {
    return this.#o.peer;
  }

  stats(): LinkStats {
    return {
      peer: this.#o.peer.id,
      connected: this.#connected,
      queued: this.#queue.length,
      inflight: this.#inflight.size,
      ...this.#stats,
    };
  }

  /**
   * Carries a message to the peer. While the peer is down QoS 0 is dropped (at most once);
   * QoS 1 is queued up to the bounds, then dropped and reported. Dropped retained state is
   * repaired by the next sync; dropped non-retained messages are lost.
   */
  send(m: Outgoing): void {
    if (this.#closed) return;
    const bytes = m.payload.length + m.topic.length;
    const full =
      this.#queue.length >= this.#o.queueMessagesMax ||
      this.#queueBytes + bytes > this.#o.queueBytesMax;
    if ((!this.#connected && m.qos === 0) || full) {
      this.#drop(m, full ? "full" : "down");
      return;
    }
    this.#queue.push({ ...m, seq: 0, sync: false });
    this.#queueBytes += bytes;
    this.#pump();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#generation++;
    const c = this.#client;
    this.#client = undefined;
    this.#connected = false;
    if (c) await c.endAsync(true).catch(() => undefined);
  }

  #drop(m: Outgoing, why: "full" | "down" | "refused"): void {
    this.#stats.dropped++;
    if (this.#droppedSinceUp++ === 0) {
      const what = { full: "queue full", down: "peer down, QoS 0", refused: "client refused" }[why];
      this.#o.report({ kind: "dropped", peer: this.#o.peer.id, message: `${what}: ${m.topic}` });
    }
  }

  #connect(): void {
    const gen = ++this.#generation;
    const tls = this.#o.tls?.();
    const url = tls ? this.#o.peer.url.replace(/^mqtt:/, "mqtts:") : this.#o.peer.url;
    const client = mqtt.connect(url, {
      ...(tls ?? { password: this.#o.secret }),
      clientId: `${MESH_CLIENT_PREFIX}${this.#o.selfId}`,
      username: MESH_USERNAME,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: limits.meshConnectTimeoutMs,
      keepalive: 10,
    });
    this.#client = client;
    client.on("connect", () => gen === this.#generation && this.#onUp(gen));
    client.on("close", () => gen === this.#generation && this.#onDown(gen));
    client.on("error", () => undefined); // 'close' follows and drives the reconnect
  }

  #onUp(gen: number): void {
    this.#connected = true;
    this.#attempt = 0;
    this.#stats.connects++;
    const dropped = this.#droppedSinceUp;
    this.#droppedSinceUp = 0;
    const note = dropped > 0 ? `; ${dropped} messages were dropped while it was down` : "";
    this.#o.report({ kind: "peer-up", peer: this.#o.peer.id, message: `connected${note}` });
    this.#pump();
    void this.#o.retainedSnapshot().then((items) => {
      if (gen !== this.#generation) return;
      for (const m of items) this.#sync.push({ ...m, seq: 0, sync: true });
      this.#syncPending = items.length;
      if (items.length === 0) this.#syncDone();
      this.#pump();
    });
  }

  #onDown(gen: number): void {
    if (this.#connected) {
      this.#o.report({ kind: "peer-down", peer: this.#o.peer.id, message: "link closed" });
    }
    this.#connected = false;
    this.#generation = gen + 1;
    // Unacknowledged live QoS 1 goes back to the front, same sequence numbers: the peer drops
    // any it did receive. Sync items are not kept: the next connect sends a fresh snapshot.
    const back = [...this.#inflight.values()].filter((i) => !i.sync && i.qos === 1);
    back.sort((a, b) => a.seq - b.seq);
    this.#inflight.clear();
    this.#sync.clear();
    this.#syncPending = 0;
    for (const i of back) this.#queueBytes += i.payload.length + i.topic.length;
    this.#queue.unshift(back);
    this.#stats.resent += back.length;
    this.#client?.end(true);
    this.#client = undefined;
    if (!this.#closed) this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const delay = backoffDelayMs(this.#attempt, this.#o.random);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #pump(): void {
    const client = this.#client;
    if (!this.#connected || !client) return;
    while (this.#inflight.size < limits.meshInflightMessagesMax) {
      const item = this.#queue.shift() ?? this.#sync.shift();
      if (!item) break;
      if (!item.sync) this.#queueBytes -= item.payload.length + item.topic.length;
      this.#write(client, item);
    }
  }

  #syncDone(): void {
    const peer = this.#o.peer.id;
    this.#o.report({ kind: "sync-done", peer, message: "retained state sent" });
  }

  #write(client: MqttClient, item: Item): void {
    const gen = this.#generation;
    // Numbered when first written, so each connection writes increasing numbers except the
    // resends at its start, which trail the peer's highest by at most the inflight window.
    if (item.seq === 0) item.seq = ++this.#seq;
    this.#inflight.set(item.seq, item);
    this.#stats.sent++;
    const payload = encodeEnvelope({
      epoch: this.#o.epoch,
      seq: item.seq,
      sync: item.sync,
      version: item.version,
      payload: item.payload,
    });
    client.publish(item.topic, payload, { qos: item.qos, retain: item.retain }, (err) => {
      if (gen !== this.#generation) return; // the link went down; #onDown requeued it
      this.#inflight.delete(item.seq);
      if (err) this.#drop(item, "refused");
      if (item.sync && --this.#syncPending === 0) this.#syncDone();
      this.#pump();
    });
  }
}
