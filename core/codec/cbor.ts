// The one CBOR configuration shared by the wire and the disk. Plain RFC 8949 only: no cbor-x
// record extensions, no structured-clone tags, no bundled strings, so that any CBOR decoder (a
// device in C, `fleet monitor`, a Python script) reads what fleet writes.

import { Encoder } from "cbor-x";
import { FleetError } from "../errors.ts";
import { limits } from "../limits.ts";

const encoder = new Encoder({
  useRecords: false,
  structuredClone: false,
  bundleStrings: false,
  pack: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  largeBigIntToFloat: false,
  useFloat32: 0,
});

export class CodecError extends FleetError {
  constructor(code: string, message: string) {
    super("codec", code, message, false);
    this.name = "CodecError";
  }
}

/** Encodes a value as CBOR. Throws CodecError when it exceeds `maxBytes`. */
export function encodeCbor(value: unknown, maxBytes: number = limits.messageBytesMax): Uint8Array {
  const bytes = encoder.encode(value) as Uint8Array;
  if (bytes.length > maxBytes) {
    throw new CodecError("too_large", `encoded ${bytes.length} bytes, limit is ${maxBytes}`);
  }
  return bytes;
}

/**
 * Decodes one CBOR item. Any failure (oversized, truncated, trailing bytes, malformed) becomes a
 * CodecError: untrusted bytes never throw anything else.
 */
export function decodeCbor(bytes: Uint8Array, maxBytes: number = limits.messageBytesMax): unknown {
  if (!(bytes instanceof Uint8Array)) throw new CodecError("bad_input", "payload is not bytes");
  if (bytes.length > maxBytes) {
    throw new CodecError("too_large", `payload is ${bytes.length} bytes, limit is ${maxBytes}`);
  }
  if (bytes.length === 0) throw new CodecError("malformed", "empty payload");
  let items: unknown[];
  try {
    items = encoder.decodeMultiple(bytes) as unknown[];
  } catch (err) {
    throw new CodecError("malformed", `not valid CBOR (${(err as Error).message ?? String(err)})`);
  }
  if (!Array.isArray(items) || items.length !== 1) {
    throw new CodecError("malformed", "payload must hold exactly one CBOR item");
  }
  return items[0];
}
