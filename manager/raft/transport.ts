// Peer transport between managers: TCP (mTLS later, see sockets.ts) carrying length-prefixed
// CBOR frames. Each manager dials every peer for its own outbound messages (transport-peer.ts)
// and accepts their dials for inbound ones. Messages are opaque values: the transport never
// looks inside, so it does not depend on Raft's message type. It must never block the caller
// and never let one peer's bad bytes cost more than that peer's connection.

import type net from "node:net";
import { decodeCbor } from "../../core/codec/cbor.ts";
import { assert } from "../../core/errors.ts";
import { limits } from "../../core/limits.ts";
import type { PeerAddr, SocketFactory } from "./sockets.ts";
import { tcpSockets } from "./sockets.ts";
import { encodeFrame, FrameReader, TransportError } from "./transport-frame.ts";
import type { PeerConfig } from "./transport-peer.ts";
import { PeerSender } from "./transport-peer.ts";

export type { PeerAddr } from "./sockets.ts";
export { TransportError } from "./transport-frame.ts";

export interface TransportOptions {
  /** This manager's Raft id (a positive integer). */
  id: number;
  /** Where to accept peers; port 0 picks a free one (see `address`). */
  listen: PeerAddr;
  /**
   * Every message a peer sent, with the sender's id from its connection's hello. The value is
   * untrusted CBOR: validate it and drop what is bad. A throw here is taken for a bug and is not
   * caught (crash loudly); only the transport's own TransportErrors cost just the connection.
   */
  onMessage: (from: number, msg: unknown) => void;
  /** A message to `peer` was dropped or its connection failed: Raft's ReportUnreachable. */
  onUnreachable?: (peer: number, reason: string) => void;
  /** The connection a peer dialled to us closed (it crashed, rebooted or stopped). */
  onPeerClosed?: (peer: number) => void;
  log?: (line: string) => void;
  sockets?: SocketFactory;
  /** Jitter source in [0, 1); tests pass a seeded one. */
  random?: () => number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  writeStallMs?: number;
  queueMessagesMax?: number;
  queueBytesMax?: number;
  frameBytesMax?: number;
}

export interface PeerStatus {
  connected: boolean;
  sent: number;
  dropped: number;
  connects: number;
}

export class Transport {
  readonly id: number;
  readonly #server: net.Server;
  readonly #peers = new Map<number, PeerSender>();
  readonly #inbound = new Set<net.Socket>();
  /** The live inbound connection of each peer: a newer one replaces it. */
  readonly #inboundFrom = new Map<number, net.Socket>();
  readonly #opts: TransportOptions;
  readonly #peerConfig: PeerConfig;
  readonly #frameBytesMax: number;
  readonly #log: (line: string) => void;
  #closed = false;

  private constructor(opts: TransportOptions, server: net.Server) {
    this.id = opts.id;
    this.#opts = opts;
    this.#server = server;
    this.#log = opts.log ?? console.warn;
    this.#frameBytesMax = opts.frameBytesMax ?? limits.raftMessageBytesMax;
    this.#peerConfig = {
      selfId: opts.id,
      sockets: opts.sockets ?? tcpSockets,
      random: opts.random ?? Math.random,
      backoffBaseMs: opts.backoffBaseMs ?? limits.peerBackoffBaseMs,
      backoffMaxMs: opts.backoffMaxMs ?? limits.peerBackoffMaxMs,
      connectTimeoutMs: opts.connectTimeoutMs ?? limits.peerConnectTimeoutMs,
      writeStallMs: opts.writeStallMs ?? limits.peerWriteStallMs,
      queueMessagesMax: opts.queueMessagesMax ?? limits.peerQueueMessagesMax,
      queueBytesMax: opts.queueBytesMax ?? limits.peerQueueBytesMax,
      frameBytesMax: this.#frameBytesMax,
      unreachable: (peer, reason) => opts.onUnreachable?.(peer, reason),
      log: this.#log,
    };
  }

  /** Starts listening; peers are added afterwards. */
  static async start(opts: TransportOptions): Promise<Transport> {
    assert(Number.isSafeInteger(opts.id) && opts.id > 0, "transport id is a positive integer");
    let self: Transport | undefined;
    const sockets = opts.sockets ?? tcpSockets;
    const server = await sockets.listen(opts.listen, (s) => {
      if (self) self.#accept(s);
      else s.destroy();
    });
    self = new Transport(opts, server);
    return self;
  }

  /** The address actually listened on (with the real port when 0 was asked). */
  get address(): PeerAddr {
    const a = this.#server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  addPeer(id: number, addr: PeerAddr): void {
    assert(!this.#closed, "transport is open");
    const peer = this.#peers.get(id);
    if (peer) peer.setAddr({ ...addr });
    else this.#peers.set(id, new PeerSender(id, { ...addr }, this.#peerConfig));
  }

  /** The peer moved: reconnect to its new address now (adds it when unknown). */
  updatePeer(id: number, addr: PeerAddr): void {
    this.addPeer(id, addr);
  }

  removePeer(id: number): void {
    this.#peers.get(id)?.close();
    this.#peers.delete(id);
  }

  /**
   * Queues `msg` for `to`. Never blocks: returns false when it was dropped (unknown peer, peer
   * down, queue full), which has also been reported through onUnreachable. Throws
   * TransportError only for a message over the frame bound, a bug in the caller.
   */
  send(to: number, msg: unknown): boolean {
    const peer = this.#peers.get(to);
    const frame = encodeFrame(msg, this.#frameBytesMax);
    if (!peer) {
      this.#peerConfig.unreachable(to, `no address known for peer ${to}`);
      return false;
    }
    return peer.enqueue(frame);
  }

  peerStatus(id: number): PeerStatus | undefined {
    const p = this.#peers.get(id);
    return p && { connected: p.connected, ...p.stats };
  }

  /** Stops listening and drops every connection and queued message. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#peers.values()) p.close();
    this.#peers.clear();
    for (const s of this.#inbound) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.#inbound.size >= limits.peerInboundConnectionsMax) {
      const err = new TransportError("too_many_connections", "too many inbound connections");
      this.#refuse(socket, "unknown", err);
      return;
    }
    this.#inbound.add(socket);
    socket.on("close", () => this.#inbound.delete(socket));
    socket.on("error", () => {}); // close follows
    const reader = new FrameReader(this.#frameBytesMax);
    let from: number | undefined;
    const helloTimer = setTimeout(() => {
      const ms = this.#peerConfig.connectTimeoutMs;
      this.#refuse(socket, "unknown", new TransportError("hello_timeout", `no hello in ${ms} ms`));
    }, this.#peerConfig.connectTimeoutMs);
    socket.on("close", () => clearTimeout(helloTimer));
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const payload of reader.push(chunk)) {
          if (from === undefined) {
            from = this.#hello(payload);
            clearTimeout(helloTimer);
            this.#bound(socket, from);
            this.#adopt(socket, from);
          } else {
            this.#opts.onMessage(from, decodeMessage(payload, this.#frameBytesMax));
          }
        }
      } catch (err) {
        if (!(err instanceof TransportError)) throw err; // onMessage's own bug: crash loudly
        this.#refuse(socket, from ?? "unknown", err);
      }
    });
  }

  /**
   * A peer dials one connection to us at a time, so a new hello from it means the old
   * connection is dead (a rebooted board leaves it half-open, and it would hold an inbound slot
   * forever): close the old one.
   */
  #adopt(socket: net.Socket, from: number): void {
    const old = this.#inboundFrom.get(from);
    this.#inboundFrom.set(from, socket);
    this.#peers.get(from)?.peerIsUp();
    socket.on("close", () => {
      if (this.#inboundFrom.get(from) !== socket) return; // replaced by a newer connection
      this.#inboundFrom.delete(from);
      if (!this.#closed) this.#opts.onPeerClosed?.(from);
    });
    if (old && old !== socket) {
      this.#log(`transport: peer ${from} reconnected; closing its previous connection`);
      old.destroy();
    }
  }

  #hello(payload: Buffer): number {
    const h = decodeMessage(payload, 256) as { v?: unknown; from?: unknown; to?: unknown };
    const ok = h?.v === 1 && Number.isSafeInteger(h.from) && (h.from as number) > 0;
    if (!ok) throw new TransportError("bad_hello", "first frame is not a hello {v: 1, from, to}");
    if (h.to !== this.id) {
      throw new TransportError("wrong_node", `hello for node ${String(h.to)}, this is ${this.id}`);
    }
    return h.from as number;
  }

  /** Secure mode: the certificate must be that of the node owning the claimed Raft id. */
  #bound(socket: net.Socket, from: number): void {
    const why = this.#peerConfig.sockets.checkRaftId?.(socket, from);
    if (why !== undefined)
      throw new TransportError("wrong_identity", `peer claims raft id ${from}: ${why}`);
  }

  /** Bad bytes cost the connection they came on, with a log line naming why. */
  #refuse(socket: net.Socket, from: number | string, err: TransportError): void {
    this.#log(
      `transport: closing connection from ${socket.remoteAddress}:${socket.remotePort} ` +
        `(peer ${from}): ${err.message} [${err.code}]`,
    );
    socket.destroy();
  }
}

function decodeMessage(payload: Buffer, maxBytes: number): unknown {
  try {
    return decodeCbor(payload, maxBytes);
  } catch (err) {
    throw new TransportError("malformed_frame", (err as Error).message);
  }
}
