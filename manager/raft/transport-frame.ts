// Peer transport framing: u32 big-endian payload length, then one CBOR item. The reader
// refuses a frame by its header (zero or over the bound) before buffering its payload, so a
// hostile peer costs at most one bound's worth of memory. Pure byte work, no sockets.

import { encodeCbor } from "../../core/codec/cbor.ts";
import { FleetError } from "../../core/errors.ts";

export type TransportErrorCode =
  | "frame_too_large"
  | "empty_frame"
  | "malformed_frame"
  | "bad_hello"
  | "wrong_node"
  | "message_too_large"
  | "hello_timeout"
  | "too_many_connections"
  | "wrong_identity";

export class TransportError extends FleetError {
  override readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, retryable = false) {
    super("transport", code, message, retryable);
    this.name = "TransportError";
    this.code = code;
  }
}

export const frameHeaderBytes = 4;

/** One frame ready for the socket: header + CBOR. Throws when over `frameBytesMax`. */
export function encodeFrame(msg: unknown, frameBytesMax: number): Buffer {
  let body: Uint8Array;
  try {
    body = encodeCbor(msg, frameBytesMax);
  } catch (err) {
    throw new TransportError("message_too_large", `cannot send: ${(err as Error).message}`);
  }
  const out = Buffer.allocUnsafe(frameHeaderBytes + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, frameHeaderBytes);
  return out;
}

/** Splits a byte stream into frame payloads. Throws TransportError on a bad header. */
export class FrameReader {
  readonly #frameBytesMax: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(frameBytesMax: number) {
    this.#frameBytesMax = frameBytesMax;
  }

  /** Feeds bytes; returns every payload completed by them, in order. */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Buffer[] = [];
    while (this.#buffered >= frameHeaderBytes) {
      const size = this.#peekSize();
      if (this.#buffered < frameHeaderBytes + size) break;
      const all = this.#take(frameHeaderBytes + size);
      out.push(all.subarray(frameHeaderBytes));
    }
    return out;
  }

  #peekSize(): number {
    if (this.#chunks[0]!.length < frameHeaderBytes) this.#chunks = [Buffer.concat(this.#chunks)];
    const size = this.#chunks[0]!.readUInt32BE(0);
    if (size === 0) throw new TransportError("empty_frame", "peer sent a zero-length frame");
    if (size > this.#frameBytesMax) {
      throw new TransportError(
        "frame_too_large",
        `peer announced a ${size}-byte frame, limit is ${this.#frameBytesMax}`,
      );
    }
    return size;
  }

  #take(n: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = all.length > n ? [all.subarray(n)] : [];
    this.#buffered = all.length - n;
    return all.subarray(0, n);
  }
}
