// WAL record framing: how one record's bytes sit in a segment file, and how a segment is read
// back. Pure byte work over buffers, no I/O. A frame is, little-endian:
//
//   u32 payloadBytes | u32 batch | u32 crc32c(payload) | u32 crc32c(header bytes 0..12) | payload
//
// `batch` numbers the sync batches within one segment (0, 1, ...). The WAL writes batch b+1 only
// after batch b's fsync returned, so a valid frame of a later batch proves that every earlier
// batch was completely on disk: that is how recovery tells a torn tail (never acknowledged)
// from corruption of acknowledged records (a hard error).

import { assert } from "../../core/errors.ts";
import { limits } from "../../core/limits.ts";
import { crc32c } from "./crc32c.ts";

export const frameHeaderBytes = 16;

export interface Frame {
  offset: number;
  batch: number;
  payload: Uint8Array;
}

/** Why the frame at `offset` could not be read. `batch` is set when its header was intact. */
export interface BadFrame {
  offset: number;
  reason: string;
  batch: number | undefined;
}

export interface SegmentScan {
  frames: Frame[];
  /** Offset just past the last good frame: the length the segment is truncated to. */
  goodBytes: number;
  bad: BadFrame | undefined;
}

/** Appends the frame of `payload` to `out` at `at`; `out` must have room. Returns the new end. */
export function writeFrame(
  out: Uint8Array,
  at: number,
  payload: Uint8Array,
  batch: number,
): number {
  assert(batch >= 0 && batch <= 0xffffffff, "batch fits its u32 field");
  assert(payload.length > 0 && payload.length <= limits.walRecordBytesMax, "record size bounded");
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(at, payload.length, true);
  view.setUint32(at + 4, batch, true);
  view.setUint32(at + 8, crc32c(payload), true);
  view.setUint32(at + 12, crc32c(out, at, at + 12), true);
  out.set(payload, at + frameHeaderBytes);
  return at + frameHeaderBytes + payload.length;
}

/** Reads the frame at `at`, or says why it is not a valid frame. */
export function readFrame(buf: Uint8Array, at: number): Frame | BadFrame {
  if (buf.length - at < frameHeaderBytes) {
    return { offset: at, reason: `partial header (${buf.length - at} bytes)`, batch: undefined };
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(at + 12, true) !== crc32c(buf, at, at + 12)) {
    return { offset: at, reason: "header checksum mismatch", batch: undefined };
  }
  const size = view.getUint32(at, true);
  const batch = view.getUint32(at + 4, true);
  if (size === 0 || size > limits.walRecordBytesMax) {
    return { offset: at, reason: `impossible record size ${size}`, batch };
  }
  const start = at + frameHeaderBytes;
  if (buf.length - start < size) {
    return { offset: at, reason: `partial payload (${buf.length - start} of ${size})`, batch };
  }
  const payload = buf.subarray(start, start + size);
  if (view.getUint32(at + 8, true) !== crc32c(payload)) {
    return { offset: at, reason: "payload checksum mismatch", batch };
  }
  return { offset: at, batch, payload };
}

/** A bad frame followed only by zeros is a preallocated or never-written tail: say so. */
function describeZeros(buf: Uint8Array, bad: BadFrame): BadFrame {
  for (let i = bad.offset; i < buf.length; i++) if (buf[i] !== 0) return bad;
  return { ...bad, reason: `zero-filled tail (${bad.reason})` };
}

function isFrame(f: Frame | BadFrame): f is Frame {
  return "payload" in f;
}

/** Reads frames from the start of a segment until the end or the first bad frame. */
export function scanSegment(buf: Uint8Array): SegmentScan {
  const frames: Frame[] = [];
  let at = 0;
  while (at < buf.length) {
    const f = readFrame(buf, at);
    if (!isFrame(f)) return { frames, goodBytes: at, bad: describeZeros(buf, f) };
    frames.push(f);
    at = f.offset + frameHeaderBytes + f.payload.length;
  }
  return { frames, goodBytes: at, bad: undefined };
}

/**
 * The highest batch of any valid frame starting after `from`, or -1. Tries every offset (the
 * header checksum rejects nearly all in 12 bytes), so it is linear in the bytes after `from`;
 * it runs only when recovery met a bad frame.
 */
export function highestBatchAfter(buf: Uint8Array, from: number): number {
  let highest = -1;
  let at = from + 1;
  while (at + frameHeaderBytes <= buf.length) {
    const f = readFrame(buf, at);
    if (isFrame(f)) {
      highest = Math.max(highest, f.batch);
      at += frameHeaderBytes + f.payload.length;
    } else {
      at += 1;
    }
  }
  return highest;
}
