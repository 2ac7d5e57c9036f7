// A guard between a client socket and aedes: it reads MQTT fixed headers as bytes arrive and
// cuts the connection at the first packet whose declared length exceeds the bound, before
// aedes' parser buffers it. aedes 1.x has no packet size limit of its own, so without this one
// client announcing a 256 MB packet holds 256 MB of broker memory. It never parses payloads.

import { Duplex } from "node:stream";

/** How long a closed connection may take to flush its last bytes before it is cut. */
const CLOSE_GRACE_MS = 2000;

/** Why a byte stream is not MQTT we accept. */
export type FrameFault = "oversized" | "malformed-length";

/**
 * Follows packet boundaries in an MQTT byte stream: fixed header byte, a variable-length
 * remaining length of at most 4 bytes [MQTT-2.2.3], then that many bytes.
 */
export class FrameScanner {
  readonly #max: number;
  /** Bytes of the current packet's body still to skip. */
  #skip = 0;
  /** Where we are in the header: 0 = expecting the type byte, n > 0 = length byte n. */
  #headerPos = 0;
  #length = 0;
  #multiplier = 1;

  constructor(packetBytesMax: number) {
    this.#max = packetBytesMax;
  }

  /** Consumes a chunk; returns the first fault found, if any (the stream is then unusable). */
  feed(chunk: Uint8Array): FrameFault | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const fault = this.#headerByte(chunk[i]!);
      if (fault) return fault;
      i++;
    }
    return undefined;
  }

  #headerByte(byte: number): FrameFault | undefined {
    if (this.#headerPos === 0) {
      this.#headerPos = 1;
      this.#length = 0;
      this.#multiplier = 1;
      return undefined;
    }
    this.#length += (byte & 0x7f) * this.#multiplier;
    this.#multiplier *= 128;
    if (this.#length > this.#max) return "oversized";
    if (byte & 0x80) {
      // [MQTT-2.2.3]: the remaining length takes at most four bytes.
      if (this.#headerPos === 4) return "malformed-length";
      this.#headerPos++;
      return undefined;
    }
    this.#headerPos = 0;
    this.#skip = this.#length;
    return undefined;
  }
}

/** The socket-like surface the guard needs; net.Socket and tls.TLSSocket both have it. */
export interface GuardedSocket extends Duplex {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
}

/**
 * A duplex aedes reads MQTT from: bytes from the socket pass through the scanner; a fault
 * destroys the socket and is reported once. Writes go straight to the socket.
 */
export class FrameGuard extends Duplex {
  readonly socket: GuardedSocket;
  readonly remoteAddress: string | undefined;
  readonly #scanner: FrameScanner;
  #corked = false;

  constructor(socket: GuardedSocket, packetBytesMax: number, onFault: (f: FrameFault) => void) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.#scanner = new FrameScanner(packetBytesMax);
    socket.on("data", (chunk: Buffer) => {
      const fault = this.#scanner.feed(chunk);
      if (fault) {
        socket.pause();
        onFault(fault);
        this.destroy(new Error(`broker: ${fault} MQTT packet from ${this.remoteAddress}`));
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (err) => this.destroy(err));
    socket.on("close", () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this._writev([{ chunk, encoding: _enc }], cb);
  }

  /**
   * Writes to the socket corked until the next turn of the event loop: aedes delivers each
   * message from its own setImmediate, so this turns a burst into one writev, not one each.
   * The callback is held while the socket is full, so our buffer fills and aedes sees write()
   * return false and waits for 'drain' (bounded in time by its drain timeout).
   */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    cb: (err?: Error | null) => void,
  ): void {
    const socket = this.socket;
    if (socket.destroyed) {
      cb(new Error("broker: connection closed"));
      return;
    }
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      setImmediate(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    let ok = true;
    for (const c of chunks) ok = socket.write(c.chunk);
    if (ok) cb();
    else socket.once("drain", () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end();
    cb();
  }

  /**
   * On an error the socket goes at once. A plain close (aedes closing a refused client) ends it
   * instead, so what was written last still leaves: a TLS socket encrypts and writes
   * asynchronously, and destroying it would drop a refusal's CONNACK unsent. A peer that does
   * not read it is cut after a short grace.
   */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const socket = this.socket;
    if (err || socket.destroyed) socket.destroy();
    else {
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    cb(err);
  }
}
