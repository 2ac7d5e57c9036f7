// The write-ahead log: an append-only sequence of CBOR records in segment files
// `<seq:016x>.wal`, each record framed and checksummed (wal-frame.ts). Records are appended in
// memory and made durable by one `sync()` (write + fdatasync) per batch. It must never report a
// record durable before its fsync returned, never drop a record that passed fsync without
// saying so, and never hand back bytes that fail their checksum.

import type { FileHandle } from "node:fs/promises";
import { open, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { decodeCbor, encodeCbor } from "../../core/codec/cbor.ts";
import { assert, FleetError } from "../../core/errors.ts";
import { limits } from "../../core/limits.ts";
import { fsyncDir, mkdirDurable } from "./fsync-dir.ts";
import type { SegmentScan } from "./wal-frame.ts";
import { frameHeaderBytes, highestBatchAfter, scanSegment, writeFrame } from "./wal-frame.ts";

export type WalErrorCode =
  | "corrupt_segment" // damage inside a completed segment
  | "corrupt_log" // damage in the last segment with a later durable batch after it
  | "corrupt_record" // passed its checksum but is not CBOR: a writer bug
  | "missing_segment"
  | "io_failed" // a write or fsync failed: the log refuses further work
  | "closed";

export class WalError extends FleetError {
  override readonly code: WalErrorCode;
  constructor(code: WalErrorCode, message: string, options?: { cause?: unknown }) {
    super("wal", code, message, false);
    this.name = "WalError";
    this.code = code;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

export interface WalRecord {
  /** Sequence number of the segment the record was read from. */
  segment: number;
  value: unknown;
}

/** What recovery cut off the end of the last segment, and why. */
export interface TornTail {
  file: string;
  offset: number;
  droppedBytes: number;
  reason: string;
}

export interface WalPosition {
  segment: number;
  bytes: number;
}

export interface WalOptions {
  /** Rotation bound; defaults to limits.walSegmentBytesMax. */
  segmentBytesMax?: number;
  /** Records written first in every new segment, e.g. the current hard state. */
  preamble?: () => readonly unknown[];
  /** Where recovery reports a truncated tail; defaults to console.warn. */
  log?: (line: string) => void;
}

export interface WalOpened {
  wal: Wal;
  /** Every record found, oldest first. */
  records: WalRecord[];
  torn: TornTail | undefined;
}

const segmentPattern = /^([0-9a-f]{16})\.wal$/;

export function segmentFileName(seq: number): string {
  return `${seq.toString(16).padStart(16, "0")}.wal`;
}

export class Wal {
  readonly dir: string;
  readonly #segmentBytesMax: number;
  readonly #preamble: () => readonly unknown[];
  #segments: number[];
  #file: FileHandle;
  #size: number;
  #batch: number;
  #pending: Uint8Array[] = [];
  #chain: Promise<void> = Promise.resolve();
  #failed: WalError | undefined;
  #closed = false;

  private constructor(dir: string, options: WalOptions, tail: OpenTail, segments: number[]) {
    this.dir = dir;
    this.#segmentBytesMax = options.segmentBytesMax ?? limits.walSegmentBytesMax;
    this.#preamble = options.preamble ?? (() => []);
    this.#segments = segments;
    this.#file = tail.file;
    this.#size = tail.size;
    this.#batch = tail.batch;
  }

  /** Opens (or creates) the log in `dir`, recovering every durable record. */
  static async open(dir: string, options: WalOptions = {}): Promise<WalOpened> {
    await mkdirDurable(dir);
    const segments = await listSegments(dir);
    if (segments.length === 0) {
      const file = await open(join(dir, segmentFileName(0)), "wx");
      await fsyncDir(dir);
      const wal = new Wal(dir, options, { file, size: 0, batch: 0 }, [0]);
      return { wal, records: [], torn: undefined };
    }
    const records: WalRecord[] = [];
    let last: SegmentScan | undefined;
    for (const [i, seq] of segments.entries()) {
      const bytes = await readFile(join(dir, segmentFileName(seq)));
      last = scanSegment(bytes);
      checkScan(seq, bytes, last, i === segments.length - 1);
      for (const f of last.frames) records.push({ segment: seq, value: decodeRecord(seq, f) });
    }
    assert(last !== undefined, "at least one segment was read");
    const seq = segments.at(-1)!;
    const torn = await truncateTail(dir, seq, last, options.log ?? console.warn);
    const file = await open(join(dir, segmentFileName(seq)), "r+");
    const batch = last.frames.length > 0 ? last.frames.at(-1)!.batch + 1 : 0;
    const wal = new Wal(dir, options, { file, size: last.goodBytes, batch }, segments);
    return { wal, records, torn };
  }

  /** Whether `dir` holds any segment, without creating anything. */
  static async exists(dir: string): Promise<boolean> {
    try {
      return (await readdir(dir)).some((n) => segmentPattern.test(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /** Sequence number of the segment new records go to. */
  get segment(): number {
    return this.#segments.at(-1)!;
  }

  /** Sequence numbers of the segments on disk, oldest first. */
  get segments(): readonly number[] {
    return this.#segments;
  }

  /** End of the durable records: the current segment and its synced length in bytes. */
  get position(): WalPosition {
    return { segment: this.segment, bytes: this.#size };
  }

  /**
   * Queues records for the next `sync()`. Encoding happens here, so an oversized record throws
   * (a bug in the caller: entries are bounded upstream) before anything is written.
   */
  append(records: readonly unknown[]): void {
    this.#throwIfFailed();
    const encoded = records.map((r) => encodeCbor(r, limits.walRecordBytesMax));
    for (const e of encoded) this.#pending.push(e);
  }

  /** Writes every queued record and fsyncs once. Resolves only when they are durable. */
  sync(): Promise<void> {
    const run = this.#chain.then(() => this.#flush());
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Deletes the segments numbered below `seq` (never the current one). Returns their numbers. */
  async releaseBefore(seq: number): Promise<number[]> {
    const done = this.#chain.then(() => this.#release(seq));
    this.#chain = done.then(
      () => {},
      () => {},
    );
    return done;
  }

  /** Waits for a running sync and closes the file. Records never synced are not written. */
  async close(): Promise<void> {
    await this.#chain;
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = [];
    this.#failed ??= new WalError("closed", "the log is closed");
    await this.#file.close();
  }

  async #flush(): Promise<void> {
    this.#throwIfFailed();
    if (this.#pending.length === 0) return;
    let payloads = this.#pending;
    this.#pending = [];
    try {
      let rotated = false;
      const bytes = framedBytes(payloads);
      if (this.#size > 0 && this.#size + bytes > this.#segmentBytesMax) {
        await this.#rotate();
        rotated = true;
        const preamble = this.#preamble().map((r) => encodeCbor(r, limits.walRecordBytesMax));
        payloads = [...preamble, ...payloads];
      }
      await this.#writeBatch(payloads);
      if (rotated) await fsyncDir(this.dir);
    } catch (err) {
      // After a failed write or fsync the page cache state is unknown (fsyncgate): retrying
      // could report records durable that are not. The log refuses all further work.
      this.#failed = new WalError("io_failed", `write failed, log closed: ${String(err)}`, {
        cause: err,
      });
      throw this.#failed;
    }
  }

  async #writeBatch(payloads: Uint8Array[]): Promise<void> {
    const buf = Buffer.allocUnsafe(framedBytes(payloads));
    let at = 0;
    for (const p of payloads) at = writeFrame(buf, at, p, this.#batch);
    assert(at === buf.length, "batch filled exactly");
    let written = 0;
    while (written < buf.length) {
      const r = await this.#file.write(buf, written, buf.length - written, this.#size + written);
      written += r.bytesWritten;
    }
    await this.#file.datasync();
    this.#size += buf.length;
    this.#batch += 1;
  }

  async #rotate(): Promise<void> {
    const next = this.segment + 1;
    const file = await open(join(this.dir, segmentFileName(next)), "wx");
    await this.#file.close();
    this.#file = file;
    this.#segments.push(next);
    this.#size = 0;
    this.#batch = 0;
  }

  async #release(seq: number): Promise<number[]> {
    this.#throwIfFailed();
    const removed = this.#segments.filter((s) => s < seq && s !== this.segment);
    for (const s of removed) await rm(join(this.dir, segmentFileName(s)));
    this.#segments = this.#segments.filter((s) => !removed.includes(s));
    if (removed.length > 0) await fsyncDir(this.dir);
    return removed;
  }

  #throwIfFailed(): void {
    if (this.#failed) throw this.#failed;
  }
}

interface OpenTail {
  file: FileHandle;
  size: number;
  batch: number;
}

function framedBytes(payloads: Uint8Array[]): number {
  let n = 0;
  for (const p of payloads) n += frameHeaderBytes + p.length;
  return n;
}

async function listSegments(dir: string): Promise<number[]> {
  const seqs: number[] = [];
  for (const name of await readdir(dir)) {
    const m = segmentPattern.exec(name);
    if (m) seqs.push(Number.parseInt(m[1]!, 16));
  }
  seqs.sort((a, b) => a - b);
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] !== seqs[i - 1]! + 1) {
      throw new WalError(
        "missing_segment",
        `segment ${segmentFileName(seqs[i - 1]! + 1)} is missing between ` +
          `${segmentFileName(seqs[i - 1]!)} and ${segmentFileName(seqs[i]!)}: records are lost; ` +
          "rebuild this manager from a healthy peer",
      );
    }
  }
  return seqs;
}

function decodeRecord(seq: number, frame: { offset: number; payload: Uint8Array }): unknown {
  try {
    return decodeCbor(frame.payload, limits.walRecordBytesMax);
  } catch (err) {
    // The checksum matched, so these are the bytes fleet wrote: a writer bug, not a disk fault.
    throw new WalError(
      "corrupt_record",
      `${segmentFileName(seq)} offset ${frame.offset}: record passed its checksum but is not ` +
        `CBOR (${String(err)})`,
      { cause: err },
    );
  }
}

/**
 * A bad frame is a torn tail only at the end of the last segment and only when no later batch
 * follows it: the WAL writes batch b+1 after batch b's fsync returned, so a valid later batch
 * means an acknowledged record is damaged. Everything else is a hard error.
 */
function checkScan(seq: number, bytes: Uint8Array, scan: SegmentScan, isLast: boolean): void {
  const bad = scan.bad;
  if (!bad) return;
  const where = `${segmentFileName(seq)} offset ${bad.offset} (${bad.reason})`;
  const fix = "this manager's log is damaged: rebuild it from a healthy peer or a backup";
  if (!isLast) {
    throw new WalError(
      "corrupt_segment",
      `${where}: corrupt record inside a completed segment, ` +
        `${bytes.length - bad.offset} bytes unreadable; ${fix}`,
    );
  }
  const prevBatch = scan.frames.at(-1)?.batch ?? -1;
  const limit = bad.batch ?? prevBatch + 1;
  const later = highestBatchAfter(bytes, bad.offset);
  if (later > limit) {
    throw new WalError(
      "corrupt_log",
      `${where}: corrupt record followed by a later durable batch (${later}), so it was ` +
        `acknowledged; ${fix}`,
    );
  }
}

async function truncateTail(
  dir: string,
  seq: number,
  scan: SegmentScan,
  log: (line: string) => void,
): Promise<TornTail | undefined> {
  if (!scan.bad) return undefined;
  const file = segmentFileName(seq);
  const fh = await open(join(dir, file), "r+");
  try {
    const { size } = await fh.stat();
    await fh.truncate(scan.goodBytes);
    await fh.sync(); // a size change is metadata: full fsync, not fdatasync
    const torn = {
      file,
      offset: scan.goodBytes,
      droppedBytes: size - scan.goodBytes,
      reason: scan.bad.reason,
    };
    log(
      `wal: truncated torn tail of ${file} at offset ${torn.offset}: dropped ` +
        `${torn.droppedBytes} bytes (${torn.reason}); no later durable batch follows, so this is ` +
        "the last write, cut short",
    );
    return torn;
  } finally {
    await fh.close();
  }
}
