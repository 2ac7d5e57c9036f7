// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL frame and
// snapshot file. Slicing-by-8 tables: eight table lookups per eight input bytes, which keeps
// checksumming well below the cost of the fsync it guards. Pure: never touches I/O.

const POLY = 0x82f63b78;

function makeTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = tables[0]!;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n]!;
    for (let t = 1; t < 8; t++) {
      c = (c >>> 8) ^ t0[c & 0xff]!;
      tables[t]![n] = c >>> 0;
    }
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = makeTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * Extends a running CRC32C with `bytes[start, end)`. Start from 0; the result is the standard
 * CRC32C of everything fed so far (so `crc32c(b) === crc32cUpdate(0, b)`).
 */
export function crc32cUpdate(
  crc: number,
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
): number {
  let c = ~crc >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo =
      (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>>
      0;
    c =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[bytes[i + 4]!]! ^
      T2[bytes[i + 5]!]! ^
      T1[bytes[i + 6]!]! ^
      T0[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = (c >>> 8) ^ T0[(c ^ bytes[i]!) & 0xff]!;
  return ~c >>> 0;
}

/** CRC32C of `bytes[start, end)`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32cUpdate(0, bytes, start, end);
}
