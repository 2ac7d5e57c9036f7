// What a forwarded message carries across a mesh link, since MQTT 3.1.1 has no user
// properties: a small binary header before the original payload, stripped by the receiving
// broker before anything is stored or delivered. The header holds the sender's link epoch and
// sequence number (so resends after a reconnect are dropped, not delivered twice) and, for
// retained messages, the version that decides which write wins (last writer by hybrid clock,
// ties broken by origin broker id). Pure: no I/O, no clock of its own.

import { limits } from "../../core/limits.ts";

const MAGIC = 0xfb;
const FORMAT = 1;
const FLAG_SYNC = 1;
const FLAG_VERSIONED = 2;
const FIXED_BYTES = 15;

/** The version of a retained topic's value: larger wins everywhere. */
export interface Version {
  /** Hybrid clock: wall-clock milliseconds, bumped past every version seen. */
  ts: number;
  /** The broker that wrote it (ties on ts break by id). */
  origin: string;
}

export function compareVersions(a: Version, b: Version): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0;
}

export interface Envelope {
  epoch: number;
  seq: number;
  /** Part of a retained-state sync on (re)connect rather than a live publish. */
  sync: boolean;
  version: Version | undefined;
  payload: Buffer;
}

export function encodeEnvelope(e: Envelope): Buffer {
  const origin = e.version ? Buffer.from(e.version.origin) : undefined;
  if (origin && origin.length > 255) throw new Error("mesh: origin id longer than 255 bytes");
  const head = Buffer.alloc(FIXED_BYTES + (origin ? 9 + origin.length : 0));
  head[0] = MAGIC;
  head[1] = FORMAT;
  head[2] = (e.sync ? FLAG_SYNC : 0) | (e.version ? FLAG_VERSIONED : 0);
  head.writeUInt32BE(e.epoch >>> 0, 3);
  head.writeDoubleBE(e.seq, 7);
  if (e.version && origin) {
    head.writeDoubleBE(e.version.ts, FIXED_BYTES);
    head[FIXED_BYTES + 8] = origin.length;
    origin.copy(head, FIXED_BYTES + 9);
  }
  if (head.length > limits.meshEnvelopeBytesMax) throw new Error("mesh: envelope too large");
  return Buffer.concat([head, e.payload]);
}

/** Decodes a forwarded payload; undefined when it is not a well-formed envelope. */
export function decodeEnvelope(buf: Buffer): Envelope | undefined {
  if (buf.length < FIXED_BYTES || buf[0] !== MAGIC || buf[1] !== FORMAT) return undefined;
  const flags = buf[2]!;
  if (flags & ~(FLAG_SYNC | FLAG_VERSIONED)) return undefined;
  const epoch = buf.readUInt32BE(3);
  const seq = buf.readDoubleBE(7);
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  let at = FIXED_BYTES;
  let version: Version | undefined;
  if (flags & FLAG_VERSIONED) {
    if (buf.length < at + 9) return undefined;
    const ts = buf.readDoubleBE(at);
    const len = buf[at + 8]!;
    if (!Number.isFinite(ts) || buf.length < at + 9 + len) return undefined;
    version = { ts, origin: buf.toString("utf8", at + 9, at + 9 + len) };
    at += 9 + len;
  }
  return { epoch, seq, sync: (flags & FLAG_SYNC) !== 0, version, payload: buf.subarray(at) };
}

/**
 * The sequence numbers recently accepted from one sender: a sliding window of `size` behind
 * the highest seen. Anything at or below the window's floor counts as already seen (a resend
 * that old cannot be told apart, so it is dropped rather than risk a duplicate).
 */
export class SeqWindow {
  readonly #seen: Uint8Array;
  #max = 0;

  constructor(size: number) {
    this.#seen = new Uint8Array(size);
  }

  /** True the first time a sequence number is offered, false on every repeat. */
  accept(seq: number): boolean {
    const size = this.#seen.length;
    if (seq > this.#max) {
      const gap = seq - this.#max;
      if (gap >= size) this.#seen.fill(0);
      else for (let s = this.#max + 1; s < seq; s++) this.#seen[s % size] = 0;
      this.#seen[seq % size] = 1;
      this.#max = seq;
      return true;
    }
    if (seq <= this.#max - size) return false;
    if (this.#seen[seq % size]) return false;
    this.#seen[seq % size] = 1;
    return true;
  }
}

/** A hybrid logical clock for versions: never behind the wall clock or any version seen. */
export class VersionClock {
  readonly #origin: string;
  readonly #now: () => number;
  #last = 0;

  constructor(origin: string, now: () => number) {
    this.#origin = origin;
    this.#now = now;
  }

  next(): Version {
    this.#last = Math.max(this.#now(), this.#last + 1);
    return { ts: this.#last, origin: this.#origin };
  }

  observe(v: Version): void {
    if (v.ts > this.#last) this.#last = v.ts;
  }
}
