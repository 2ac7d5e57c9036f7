// The outbound side of one peer: a bounded queue of encoded frames and one connection that
// drains it, reconnecting with jittered exponential backoff. `enqueue` never waits: when the
// queue is full, or the peer is known to be down, the frame is dropped and the caller told, so
// Raft never blocks on a slow or dead peer (it retries through its own probes).

import type net from "node:net";
import type { PeerAddr, SocketFactory } from "./sockets.ts";
import { encodeFrame } from "./transport-frame.ts";

export interface PeerConfig {
  selfId: number;
  sockets: SocketFactory;
  random: () => number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  connectTimeoutMs: number;
  /** A connection whose pending bytes do not shrink for this long is taken for dead. */
  writeStallMs: number;
  queueMessagesMax: number;
  queueBytesMax: number;
  frameBytesMax: number;
  /** Called on every drop and failed connection: Raft's ReportUnreachable. */
  unreachable: (peer: number, reason: string) => void;
  log: (line: string) => void;
}

/** Equal jitter: half the capped exponential delay, plus a random part of the other half. */
export function backoffDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const capped = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return capped / 2 + random() * (capped / 2);
}

type State = "connecting" | "connected" | "backoff" | "closed";

export class PeerSender {
  readonly id: number;
  #addr: PeerAddr;
  readonly #cfg: PeerConfig;
  #state: State = "connecting";
  #socket: net.Socket | undefined;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #waitingDrain = false;
  #flushQueued = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  /** Counts for operators and tests. */
  readonly stats = { sent: 0, dropped: 0, connects: 0 };

  constructor(id: number, addr: PeerAddr, cfg: PeerConfig) {
    this.id = id;
    this.#addr = addr;
    this.#cfg = cfg;
    this.#connect();
  }

  get connected(): boolean {
    return this.#state === "connected";
  }

  /** Queues one encoded frame. False (and reported) when dropped. Never blocks. */
  enqueue(frame: Buffer): boolean {
    // Queue while connected or first dialing; after a failure the peer counts as down until a
    // connection succeeds, so messages are dropped at once instead of going stale in a queue.
    if (this.#state === "closed" || (this.#state !== "connected" && this.#attempt > 0)) {
      return this.#drop(`peer ${this.id} is unreachable (${this.#state})`);
    }
    const full =
      this.#queue.length >= this.#cfg.queueMessagesMax ||
      this.#queuedBytes + frame.length > this.#cfg.queueBytesMax;
    if (full) return this.#drop(`queue to peer ${this.id} is full (${this.#queue.length} msgs)`);
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    // Coalesce: a Ready sends many small messages in one go; one write (one syscall) carries
    // them all. Big backlogs go out at once, so a full kernel buffer shows without delay.
    if (this.#queuedBytes >= 64 * 1024) this.#flush();
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
    return true;
  }

  /** Points at a new address: drops the connection and dials the new one at once. */
  setAddr(addr: PeerAddr): void {
    this.#addr = addr;
    this.#attempt = 0;
    this.#teardown();
    this.#connect();
  }

  /**
   * The peer just dialed us, so it is up: a connection waiting out its backoff dials now. (A
   * restarted member would otherwise stay unreachable for up to backoffMaxMs, and an election
   * that needs its vote would wait out a whole election timeout.)
   */
  peerIsUp(): void {
    if (this.#state !== "backoff") return;
    this.#attempt = 0;
    this.#teardown();
    this.#connect();
  }

  close(): void {
    this.#teardown();
    this.#state = "closed";
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  #connect(): void {
    this.#state = "connecting";
    const addr = this.#addr;
    this.#cfg.sockets.connect(addr, this.#cfg.connectTimeoutMs).then(
      (socket) => this.#onConnected(socket, addr),
      (err: Error) => this.#onFailure(addr, `connect to ${fmt(addr)} failed: ${err.message}`),
    );
  }

  #onConnected(socket: net.Socket, addr: PeerAddr): void {
    if (this.#state !== "connecting" || addr !== this.#addr) {
      socket.destroy(); // closed or re-addressed while dialing
      return;
    }
    // Secure mode: the dialled manager must be the node that owns this Raft id.
    const why = this.#cfg.sockets.checkRaftId?.(socket, this.id);
    if (why !== undefined) {
      socket.destroy();
      this.#onFailure(addr, `peer at ${fmt(addr)} refused as raft id ${this.id}: ${why}`);
      return;
    }
    this.#socket = socket;
    this.#state = "connected";
    this.#attempt = 0;
    this.stats.connects++;
    socket.on("error", () => {}); // the close event that follows does the work
    socket.on("close", () => {
      if (this.#socket === socket) this.#onFailure(addr, `connection to ${fmt(addr)} closed`);
    });
    socket.on("drain", () => {
      this.#waitingDrain = false;
      clearInterval(this.#stallTimer);
      this.#flush();
    });
    // The receiver learns who we are and checks the message is meant for it.
    socket.write(encodeFrame({ v: 1, from: this.#cfg.selfId, to: this.id }, 256));
    this.#flush();
  }

  /** Frames from the head of the queue, up to about 256 KiB per write. */
  #takeBatch(): Buffer[] {
    const out: Buffer[] = [];
    let bytes = 0;
    while (
      this.#queue.length > 0 &&
      (out.length === 0 || bytes + this.#queue[0]!.length <= 256 * 1024)
    ) {
      const frame = this.#queue.shift()!;
      this.#queuedBytes -= frame.length;
      this.stats.sent++;
      bytes += frame.length;
      out.push(frame);
    }
    return out;
  }

  #flush(): void {
    const socket = this.#socket;
    if (this.#state !== "connected" || !socket || this.#waitingDrain) return;
    while (this.#queue.length > 0) {
      const frames = this.#takeBatch();
      const frame = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
      if (!socket.write(frame)) {
        this.#waitingDrain = true; // the kernel buffer is full: the queue takes the rest
        this.#watchStall(socket);
        return;
      }
    }
  }

  /**
   * A peer that lost power leaves a connection that looks open: no reset arrives and TCP
   * retransmits for many minutes. While writes wait, pending bytes must keep shrinking;
   * when they stop, the connection is dropped and redialed.
   */
  #watchStall(socket: net.Socket): void {
    const ms = this.#cfg.writeStallMs;
    let pending = socket.writableLength;
    clearInterval(this.#stallTimer);
    this.#stallTimer = setInterval(() => {
      const now = socket.writableLength;
      if (now >= pending && this.#socket === socket) {
        this.#onFailure(this.#addr, `no write progress in ${ms} ms (${now} bytes pending)`);
      }
      pending = now;
    }, ms);
  }

  #onFailure(addr: PeerAddr, reason: string): void {
    if (this.#state === "closed" || addr !== this.#addr) return;
    this.#teardown();
    const lost = this.#queue.length;
    this.stats.dropped += lost;
    this.#queue = [];
    this.#queuedBytes = 0;
    const delay = backoffDelayMs(
      this.#attempt++,
      this.#cfg.backoffBaseMs,
      this.#cfg.backoffMaxMs,
      this.#cfg.random,
    );
    this.#cfg.log(
      `transport: peer ${this.id}: ${reason}; ${lost} queued message(s) dropped, ` +
        `retrying in ${Math.round(delay)} ms`,
    );
    this.#cfg.unreachable(this.id, reason);
    this.#state = "backoff";
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #drop(reason: string): false {
    this.stats.dropped++;
    this.#cfg.unreachable(this.id, reason);
    return false;
  }

  #teardown(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#stallTimer);
    this.#timer = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#waitingDrain = false;
    socket?.destroy();
  }
}

function fmt(addr: PeerAddr): string {
  return `${addr.host}:${addr.port}`;
}
