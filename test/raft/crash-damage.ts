// Damage a crash could really leave, for the crash test: only the last write of the log, and
// only when nothing acknowledged or released depends on it. After SIGKILL the page cache still
// holds every write, so this stands in for a power cut that loses or tears the final batch.

import { appendFileSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeCbor } from "../../core/codec/cbor.ts";
import { limits } from "../../core/limits.ts";
import { scanSegment } from "../../manager/raft/wal-frame.ts";

export interface AckedPosition {
  segment: number;
  bytes: number;
}

export type Damage = "none" | "zeros" | "cut" | "flip";

/**
 * Damages the last segment of `walDir` with `mode`. "cut" and "flip" touch only the last batch,
 * and only when it starts after the acknowledged position and holds entries (a batch with only a
 * snapshot marker may already have released segments, so losing it is not a state a crash can
 * produce). Returns what it did, which may be less than asked.
 */
export function damageTail(
  walDir: string,
  acked: AckedPosition,
  mode: Damage,
  rand: () => number,
): Damage {
  if (mode === "none") return "none";
  const names = readdirSync(walDir)
    .filter((n) => n.endsWith(".wal"))
    .sort();
  const file = join(walDir, names.at(-1)!);
  if (mode === "zeros") {
    appendFileSync(file, new Uint8Array(1 + Math.floor(rand() * 8192)));
    return "zeros";
  }
  const bytes = readFileSync(file);
  const { frames } = scanSegment(bytes);
  const last = frames.at(-1);
  if (!last) return "none";
  const batch = frames.filter((f) => f.batch === last.batch);
  const start = batch[0]!.offset;
  const segment = Number.parseInt(names.at(-1)!, 16);
  const afterAck = segment > acked.segment || start >= acked.bytes;
  const hasEntries = batch.some(
    (f) => (decodeCbor(f.payload, limits.walRecordBytesMax) as { t: string }).t === "entry",
  );
  if (!afterAck || !hasEntries) return "none";
  if (mode === "cut") {
    truncateSync(file, start + Math.floor(rand() * (bytes.length - start)));
  } else {
    bytes[bytes.length - 1]! ^= 0x5a;
    writeFileSync(file, bytes);
  }
  return mode;
}
