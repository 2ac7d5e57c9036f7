// Snapshot files: one file per Raft snapshot, `<index:016x>-<term:016x>.snap`, written
// atomically (tmp file, fsync, rename, fsync dir) and checksummed, the newest few kept. A file
// is never trusted because of its name alone: load verifies magic, length and CRC32C and says
// what is wrong. Never leaves a half-written file under a final name.

import { open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { decodeCbor, encodeCbor } from "../../core/codec/cbor.ts";
import { FleetError } from "../../core/errors.ts";
import { limits } from "../../core/limits.ts";
import type { Snapshot } from "../../core/raft/types.ts";
import { crc32c } from "./crc32c.ts";
import { fsyncDir, mkdirDurable } from "./fsync-dir.ts";

export class SnapshotFileError extends FleetError {
  constructor(code: "missing" | "corrupt", message: string) {
    super("snapshot-files", code, message, false);
    this.name = "SnapshotFileError";
  }
}

export interface SnapshotFileInfo {
  file: string;
  index: number;
  term: number;
}

export interface SnapshotFilesOptions {
  /** How many snapshot files to keep; defaults to limits.snapshotFilesKept. */
  keep?: number;
  log?: (line: string) => void;
}

/** File layout: magic (8) | u32 LE body bytes | u32 LE crc32c(body) | body (CBOR). */
const magic = new TextEncoder().encode("fleetsn1");
const headerBytes = 16;
const namePattern = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const tmpSuffix = ".tmp";

export function snapshotFileName(index: number, term: number): string {
  const hex = (n: number) => n.toString(16).padStart(16, "0");
  return `${hex(index)}-${hex(term)}.snap`;
}

export class SnapshotFiles {
  readonly dir: string;
  readonly #keep: number;
  readonly #log: (line: string) => void;

  private constructor(dir: string, options: SnapshotFilesOptions) {
    this.dir = dir;
    this.#keep = options.keep ?? limits.snapshotFilesKept;
    this.#log = options.log ?? console.warn;
  }

  /** Opens the directory, creating it, and removes tmp files a crash left behind. */
  static async open(dir: string, options: SnapshotFilesOptions = {}): Promise<SnapshotFiles> {
    await mkdirDurable(dir);
    const files = new SnapshotFiles(dir, options);
    const leftovers = (await readdir(dir)).filter((n) => n.endsWith(tmpSuffix));
    for (const name of leftovers) await rm(join(dir, name));
    if (leftovers.length > 0) {
      await fsyncDir(dir);
      files.#log(`snapshot-files: removed ${leftovers.length} unfinished tmp file(s) in ${dir}`);
    }
    return files;
  }

  /** Snapshot files present, newest (highest index) first. */
  async list(): Promise<SnapshotFileInfo[]> {
    const out: SnapshotFileInfo[] = [];
    for (const file of await readdir(this.dir)) {
      const m = namePattern.exec(file);
      if (m) out.push({ file, index: parseHex(m[1]!), term: parseHex(m[2]!) });
    }
    return out.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /**
   * Writes `snap` durably under its final name, then keeps it and the keep-1 newest older ones;
   * files above its index (left by a crash before the log recorded them) are removed too.
   */
  async save(snap: Snapshot): Promise<string> {
    const { index, term } = snap.metadata;
    const name = snapshotFileName(index, term);
    const tmp = join(this.dir, name + tmpSuffix);
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(encodeFile(snap));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, name));
    await fsyncDir(this.dir);
    await this.#prune(index);
    return name;
  }

  /** Loads and verifies the snapshot at (index, term). */
  async load(index: number, term: number): Promise<Snapshot> {
    const name = snapshotFileName(index, term);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(this.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      throw new SnapshotFileError("missing", `${name} not found in ${this.dir}`);
    }
    const snap = decodeFile(name, bytes);
    if (snap.metadata.index !== index || snap.metadata.term !== term) {
      throw new SnapshotFileError(
        "corrupt",
        `${name} holds index ${snap.metadata.index} term ${snap.metadata.term}, not its name's`,
      );
    }
    return snap;
  }

  async #prune(savedIndex: number): Promise<void> {
    const all = await this.list();
    const newer = all.filter((f) => f.index > savedIndex);
    const older = all.filter((f) => f.index < savedIndex).slice(this.#keep - 1);
    const doomed = [...newer, ...older];
    for (const f of doomed) await rm(join(this.dir, f.file));
    if (doomed.length > 0) await fsyncDir(this.dir);
  }
}

function parseHex(s: string): number {
  const n = Number.parseInt(s, 16);
  return Number.isSafeInteger(n) ? n : -1;
}

function encodeFile(snap: Snapshot): Uint8Array {
  const body = encodeCbor(
    { metadata: snap.metadata, data: snap.data },
    limits.snapshotFileBytesMax - headerBytes,
  );
  const out = new Uint8Array(headerBytes + body.length);
  out.set(magic, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, body.length, true);
  view.setUint32(12, crc32c(body), true);
  out.set(body, headerBytes);
  return out;
}

function decodeFile(name: string, bytes: Uint8Array): Snapshot {
  const bad = (what: string) =>
    new SnapshotFileError("corrupt", `${name}: ${what}; delete it to fall back to an older one`);
  if (bytes.length < headerBytes || !magic.every((b, i) => bytes[i] === b)) {
    throw bad("not a fleet snapshot file (bad magic)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getUint32(8, true);
  if (size !== bytes.length - headerBytes) {
    throw bad(`length ${bytes.length - headerBytes} differs from header's ${size}`);
  }
  const body = bytes.subarray(headerBytes);
  if (crc32c(body) !== view.getUint32(12, true)) throw bad("checksum mismatch");
  let value: unknown;
  try {
    value = decodeCbor(body, limits.snapshotFileBytesMax);
  } catch (err) {
    throw bad(`checksum matches but body is not CBOR (${String(err)})`);
  }
  return checkShape(value, bad);
}

function checkShape(value: unknown, bad: (what: string) => Error): Snapshot {
  const v = value as { metadata?: Record<string, unknown>; data?: unknown } | null;
  const m = v?.metadata;
  const cs = m?.confState as { voters?: unknown; learners?: unknown } | undefined;
  const ok =
    m !== undefined &&
    Number.isSafeInteger(m.index) &&
    Number.isSafeInteger(m.term) &&
    Array.isArray(cs?.voters) &&
    Array.isArray(cs?.learners) &&
    v?.data instanceof Uint8Array;
  if (!ok) throw bad("body is not a snapshot {metadata, data}");
  const data = v.data as Uint8Array;
  // cbor-x hands back Node Buffers; callers get plain Uint8Array views (no copy).
  return {
    metadata: {
      index: m.index as number,
      term: m.term as number,
      confState: { voters: cs!.voters as number[], learners: cs!.learners as number[] },
    },
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}
